"""docker-py compatibility checks of bind mounts, after docker-py's own `VolumeBindTest` (its setUp and tests, but
without `network_mode='none'`, which podshim refuses until networks come): a container touches a file in a bound
temporary directory, the next one lists it (`binds={dir: {'bind': ..., 'ro': ...}}` and `mounts=[Mount(type='bind')]`),
and inspect's `Mounts` shows Source, RW and Propagation as Docker does; and the code runner's
`containers.run(..., volumes=[in:ro, out:rw], remove=True)` whose output is in `out` when `run` returns.

    DOCKER_HOST=unix:///path/to/docker.sock python3 -m pytest -q compat-tests/dockerpy/test_binds.py

The engine must run on this machine (it reads the paths). Validated against Docker 20.10 (API 1.41): all pass.
"""

import os
import tempfile

import pytest
from docker.types import Mount

from compat import IMAGE, labels

MOUNT_DEST = "/mnt"
FILENAME = "shared.txt"


@pytest.fixture
def origin(client):
    """VolumeBindTest.setUp: a temporary directory in which a first container touched shared.txt."""
    path = tempfile.mkdtemp()
    run_with_bind(client, path, False, ["touch", os.path.join(MOUNT_DEST, FILENAME)])
    return path


def run_with_bind(client, path, ro, command, **kwargs):
    """VolumeBindTest.run_with_volume: create with binds, start, wait for the exit; the container."""
    host_config = client.api.create_host_config(binds={path: {"bind": MOUNT_DEST, "ro": ro}}, **kwargs)
    return run_container(client, command, host_config=host_config, volumes=[MOUNT_DEST])


def run_container(client, command, **kwargs):
    created = client.api.create_container(IMAGE, command, labels=labels(), **kwargs)
    client.api.start(created)
    assert client.api.wait(created)["StatusCode"] == 0
    return created


def check_container_data(client, container, path, rw):
    mounts = [m for m in client.api.inspect_container(container)["Mounts"] if m["Destination"] == MOUNT_DEST]
    assert len(mounts) == 1
    assert mounts[0]["Source"] == path
    assert mounts[0]["RW"] == rw
    assert mounts[0]["Propagation"] == "rprivate"


def test_create_with_binds_rw(client, origin):
    container = run_with_bind(client, origin, False, ["ls", MOUNT_DEST])
    assert FILENAME in client.api.logs(container).decode()
    check_container_data(client, container, origin, True)


def test_create_with_binds_ro(client, origin):
    run_with_bind(client, origin, False, ["touch", os.path.join(MOUNT_DEST, FILENAME)])
    container = run_with_bind(client, origin, True, ["ls", MOUNT_DEST])
    assert FILENAME in client.api.logs(container).decode()
    check_container_data(client, container, origin, False)


@pytest.mark.parametrize("read_only", [False, True])
def test_create_with_mounts(client, origin, read_only):
    mount = Mount(type="bind", source=origin, target=MOUNT_DEST, read_only=read_only)
    container = run_container(client, ["ls", MOUNT_DEST], host_config=client.api.create_host_config(mounts=[mount]))
    assert FILENAME in client.api.logs(container).decode()
    check_container_data(client, container, origin, not read_only)


def test_code_runner_output_is_there_when_run_returns(client, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "job.txt").write_text("6 7\n")
    out = tmp_path / "out"
    logs = client.containers.run(
        IMAGE,
        ["sh", "-c", "read a b </input/job.txt; echo $((a * b)) >/output/result.txt; echo done"],
        volumes=[f"{tmp_path / 'in'}:/input:ro", f"{out}:/output:rw"],
        remove=True,
        labels=labels(),
    )
    assert logs == b"done\n"
    assert (out / "result.txt").read_text() == "42\n"
