"""docker-py compatibility checks of volumes: `client.volumes` (create, get, list with filters, remove), a named volume
written by one container and read by the next (`volumes=`), a volume in use refused with 409 and removed once its
container is gone, `tmpfs=`, `volumes_from=`, `mounts=[Mount(type='volume')]` with a subpath, and an anonymous volume
kept across stop and start and removed with `remove(v=True)`.

    DOCKER_HOST=unix:///path/to/docker.sock python3 -m pytest -q compat-tests/dockerpy/test_volumes.py

Validated against Docker 20.10 (API 1.41), where all pass but two: test_volumes_create_get_list (its `size` option is
a claim's request in podshim; Docker's local driver needs quotas for it) and test_mount_with_subpath
(VolumeOptions.Subpath is API 1.45, Docker 26; 20.10 ignores it and mounts the volume's root). docker-py 7.2 has `Mount(..., subpath=)`;
7.1 (the client compat-tests/install-deps.sh pins) has not, so the check sets `VolumeOptions.Subpath` on the Mount it
builds (a dict, sent as is), which is what 7.2's argument sends.
"""

import time

import pytest
from docker.errors import APIError, NotFound
from docker.types import Mount

from compat import IMAGE, RUN_ID, labels


@pytest.fixture
def volume_name(client, request):
    """A volume name unique to this test; the volume (if any) is removed after it."""
    names = []

    def make(suffix=""):
        names.append(f"{RUN_ID}-{request.node.name.replace('_', '-')[:40]}{suffix}")
        return names[-1]

    yield make
    for name in names:
        try:
            client.volumes.get(name).remove(force=True)
        except APIError:
            pass


def run_rm(client, command, **kwargs):
    """Runs COMMAND to its end in a container that is removed after; its output (stdout and stderr) as text."""
    return client.containers.run(IMAGE, ["sh", "-c", command], remove=True, labels=labels(), **kwargs).decode()


def volume_names(client, **filters):
    return sorted(v.name for v in client.volumes.list(filters=filters))


def wait_gone(client, name, timeout=15):
    deadline = time.time() + timeout
    while name in volume_names(client):
        assert time.time() < deadline, f"volume {name} still listed {timeout} s later"
        time.sleep(0.3)


def mounted(container, path):
    container.reload()
    return [m["Name"] for m in container.attrs["Mounts"] if m["Destination"] == path]


def test_volumes_create_get_list(client, volume_name):
    a, b = volume_name("-a"), volume_name("-b")
    created = client.volumes.create(a, driver="local", labels=labels(tier="a"), driver_opts={"size": "10m"})
    assert created.name == a
    client.volumes.create(b, labels=labels())
    got = client.volumes.get(a)
    assert got.id == a and got.attrs["Driver"] == "local" and got.attrs["Scope"] == "local"
    assert got.attrs["Labels"] == labels(tier="a")
    assert got.attrs["Options"] == {"size": "10m"}
    assert got.attrs["Mountpoint"]
    assert volume_names(client, label=f"podshim-compat-run={RUN_ID}", name=volume_name("")) == [a, b]
    assert volume_names(client, label=["tier=a", f"podshim-compat-run={RUN_ID}"]) == [a]
    with pytest.raises(NotFound) as err:
        client.volumes.get(volume_name("-nosuch"))
    assert err.value.status_code == 404


def test_named_volume_written_by_one_container_read_by_the_next(client, volume_name):
    v = volume_name()
    assert run_rm(client, "echo written-by-one > /d/f", volumes={v: {"bind": "/d", "mode": "rw"}}) == ""
    assert run_rm(client, "cat /d/f", volumes={v: {"bind": "/d", "mode": "ro"}}) == "written-by-one\n"
    assert run_rm(client, "cat /e/f", volumes=[f"{v}:/e"]) == "written-by-one\n"
    assert v in volume_names(client)


def test_read_only_volume_refuses_writes(client, volume_name, name):
    v = volume_name()
    c = client.containers.run(IMAGE, ["sh", "-c", "touch /d/x"], detach=True, name=name, labels=labels(),
                              volumes={v: {"bind": "/d", "mode": "ro"}})
    assert c.wait(timeout=120)["StatusCode"] == 1
    assert "Read-only file system" in c.logs().decode()
    c.remove()


def test_remove_in_use_is_409_then_removed(client, volume_name, name):
    v = volume_name()
    volume = client.volumes.create(v, labels=labels())
    c = client.containers.run(IMAGE, "sleep 300", detach=True, name=name, labels=labels(), volumes=[f"{v}:/d"])
    with pytest.raises(APIError) as err:
        volume.remove()
    assert err.value.status_code == 409
    assert err.value.explanation == f"remove {v}: volume is in use - [{c.id}]"
    with pytest.raises(APIError) as err:
        volume.remove(force=True)
    assert err.value.status_code == 409
    c.remove(force=True)
    assert client.volumes.get(v).name == v
    volume.remove()
    assert v not in volume_names(client)
    with pytest.raises(NotFound):
        client.volumes.get(v)


def test_tmpfs(client, name):
    c = client.containers.run(IMAGE, ["sh", "-c", "grep ' /run ' /proc/mounts | cut -d' ' -f1,3; echo x > /run/f; cat /run/f"],
                              detach=True, name=name, labels=labels(), tmpfs={"/run": "size=1m"})
    assert c.wait(timeout=120)["StatusCode"] == 0
    assert c.logs().decode() == "tmpfs tmpfs\nx\n"
    c.reload()
    assert c.attrs["HostConfig"]["Tmpfs"] == {"/run": "size=1m"}
    c.remove()


def test_volumes_from(client, volume_name, name):
    v = volume_name()
    src = client.containers.run(IMAGE, ["sh", "-c", "echo shared > /d/f; sleep 300"], detach=True, name=f"{name}-src",
                                labels=labels(), volumes=[f"{v}:/d", "/anon"])
    out = run_rm(client, "for i in $(seq 50); do [ -f /d/f ] && break; sleep 0.1; done; cat /d/f; echo back > /anon/g",
                 volumes_from=[src.id])
    assert out == "shared\n"
    assert src.exec_run(["cat", "/anon/g"]).output == b"back\n"
    anon = mounted(src, "/anon")
    src.remove(force=True, v=True)
    wait_gone(client, anon[0])


def test_mount_with_subpath(client, volume_name, name):
    v = volume_name()
    run_rm(client, "mkdir /d/sub && echo in-sub > /d/sub/f && echo at-root > /d/g", volumes=[f"{v}:/d"])
    mount = Mount("/m", v, type="volume")
    mount["VolumeOptions"] = {"Subpath": "sub"}
    c = client.containers.run(IMAGE, ["sh", "-c", "ls /m; cat /m/f"], detach=True, name=name, labels=labels(),
                              mounts=[mount])
    assert c.wait(timeout=120)["StatusCode"] == 0
    assert c.logs().decode() == "f\nin-sub\n"
    c.reload()
    assert [(m["Type"], m["Name"], m["Destination"]) for m in c.attrs["Mounts"]] == [("volume", v, "/m")]
    assert c.attrs["HostConfig"]["Mounts"][0]["VolumeOptions"]["Subpath"] == "sub"
    c.remove()


def test_mount_read_only_volume(client, volume_name, name):
    v = volume_name()
    run_rm(client, "echo kept > /d/f", volumes=[f"{v}:/d"])
    c = client.containers.run(IMAGE, ["sh", "-c", "cat /m/f; touch /m/x"], detach=True, name=name, labels=labels(),
                              mounts=[Mount("/m", v, type="volume", read_only=True)])
    assert c.wait(timeout=120)["StatusCode"] == 1
    # Both streams (a cluster without split log streams gives them merged): the file read, the write refused.
    logs = c.logs().decode()
    assert "kept\n" in logs and "Read-only file system" in logs, logs
    c.remove()


def test_anonymous_volume_kept_across_stop_start_gone_after_remove_v(client, name):
    c = client.containers.run(IMAGE, "sleep 300", detach=True, name=name, labels=labels(), volumes=["/scratch"])
    anon = mounted(c, "/scratch")
    assert len(anon) == 1 and len(anon[0]) == 64, anon
    assert anon[0] in volume_names(client)
    assert c.exec_run(["sh", "-c", "echo before-stop > /scratch/f"]).exit_code == 0
    c.stop(timeout=1)
    c.start()
    assert mounted(c, "/scratch") == anon
    assert c.exec_run(["cat", "/scratch/f"]).output == b"before-stop\n"
    c.stop(timeout=1)
    c.remove(v=True)
    wait_gone(client, anon[0])


def test_remove_without_v_keeps_the_anonymous_volume(client, name):
    c = client.containers.create(IMAGE, "true", name=name, labels=labels(), volumes=["/scratch"])
    anon = mounted(c, "/scratch")[0]
    c.remove()
    try:
        assert anon in volume_names(client, dangling=True)
    finally:
        client.volumes.get(anon).remove()
