"""What the volume test of tests/volume_mounts_sim.rs runs with docker-py; prints one JSON line (the same on Docker 20.10)."""
import docker, json, sys
c = docker.from_env(version="1.41")
out = c.containers.run("alpine", "sh -c 'echo py > /d/f'", volumes={"pyvol": {"bind": "/d", "mode": "rw"}}, remove=True)
out = c.containers.run("alpine", "cat /d/f", volumes=["pyvol:/d:ro"], remove=True)
m = docker.types.Mount(type="volume", source="pylabeled", target="/m", labels={"com.example": "yes"})
ctr = c.containers.create("alpine", "true", mounts=[m], tmpfs={"/t": "size=3m"})
ctr.reload()
mounts = [{k: x[k] for k in ("Type", "Name", "Destination", "RW", "Mode")} for x in ctr.attrs["Mounts"]]
ctr.remove(v=True)
print(json.dumps({"out": out.decode(), "mounts": mounts, "tmpfs": ctr.attrs["HostConfig"]["Tmpfs"]}, sort_keys=True))
