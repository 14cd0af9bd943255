"""docker-py 7.1 compatibility checks for interactive streams: exec (demultiplexed output, streaming, exit
code, environment, working directory, user, stdin) and archives (put_archive / get_archive, before start
and while running).

    DOCKER_HOST=unix:///path/to/docker.sock python3 -m pytest -q compat-tests/dockerpy/test_interactive.py

Every test encodes what a real Docker Engine answers (validated against Docker 20.10 with a busybox image
tagged alpine), so the same file runs against Docker and against podshim. Containers carry a label unique to
the run and are force-removed at the end. Nothing is timed: the streaming test lets the command go on only
once the first chunk has arrived.

Environment: DOCKER_HOST (required), IMAGE (default alpine).
"""

import io
import os
import socket
import tarfile
import time
import uuid

import docker
import pytest
from docker.errors import APIError, NotFound
from docker.utils.socket import consume_socket_output, demux_adaptor, frames_iter

from compat import IMAGE, RUN_ID, RUN_LABEL, labels  # noqa: F401
# Go's os.ModeDir, set in the mode of X-Docker-Container-Path-Stat for a directory.
MODE_DIR = 1 << 31




@pytest.fixture
def running(client, name):
    """A running container to exec in."""
    return client.containers.run(IMAGE, "sleep 300", detach=True, name=name, labels={RUN_LABEL: RUN_ID})


def make_tar(entries):
    """A tar archive of (name, mode, content) entries; content None makes a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for entry_name, mode, content in entries:
            info = tarfile.TarInfo(entry_name)
            info.mode = mode
            info.mtime = 1700000000
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def read_tar(chunks):
    """{name: (mode, content or None)} of a tar archive given as an iterable of byte chunks."""
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        return {
            m.name: (m.mode & 0o7777, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()
        }


def test_exec_run_demux_exit_code(running):
    result = running.exec_run('sh -c "echo o; echo e >&2; exit 2"', demux=True)
    assert result.exit_code == 2
    assert result.output == (b"o\n", b"e\n")


def test_exec_run_multiplexed_output(running):
    result = running.exec_run(["sh", "-c", "echo o; echo e >&2"])
    assert result.exit_code == 0
    # Two pipes: Docker gives no order between the streams.
    assert sorted(result.output.splitlines()) == [b"e", b"o"]
    result = running.exec_run(["sh", "-c", "echo o; echo e >&2"], stderr=False)
    assert result.output == b"o\n"


def test_exec_run_env_workdir_user(running):
    result = running.exec_run(
        ["sh", "-c", "echo $K $(pwd) $(id -u)"], environment={"K": "V"}, workdir="/tmp", user="1000"
    )
    assert (result.exit_code, result.output) == (0, b"V /tmp 1000\n")
    result = running.exec_run(["sh", "-c", "echo ${K:-unset} $(id -u)"])
    assert result.output == b"unset 0\n"
    assert running.exec_run(["pwd"]).output == b"/\n"


def test_exec_run_stream_yields_before_the_command_ends(running):
    # The command prints 1, then waits (at most 60 s) for a file that the test creates only once it has
    # received that 1: a server that holds the output back until the command ends delivers "1\ntimeout\n".
    # A path of this test's own, in case the container shares the machine's filesystem (an unprotected simulator).
    go = f"/tmp/go-{uuid.uuid4().hex}"
    script = (
        f"echo 1; i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "
        f"if [ -e {go} ]; then echo 2; rm -f {go}; else echo timeout; fi"
    )
    result = running.exec_run(["sh", "-c", script], stream=True)
    assert result.exit_code is None
    received = b""
    for chunk in result.output:
        received += chunk
        if b"\n" in received:
            break
    assert received == b"1\n", "the first line did not come on its own"
    assert running.exec_run(["touch", go]).exit_code == 0
    for chunk in result.output:
        received += chunk
    assert received == b"1\n2\n"


def test_exec_inspect_final_when_the_stream_ends(client, running):
    exec_id = client.api.exec_create(running.id, ["sh", "-c", "echo out; exit 3"])["Id"]
    before = client.api.exec_inspect(exec_id)
    assert before["Running"] is False
    assert before["ExitCode"] is None
    assert b"".join(client.api.exec_start(exec_id, stream=True)) == b"out\n"
    after = client.api.exec_inspect(exec_id)
    assert after["Running"] is False
    assert after["ExitCode"] == 3
    assert after["ContainerID"] == running.id


def test_exec_stdin_through_the_socket(client, running):
    exec_id = client.api.exec_create(running.id, ["cat"], stdin=True)["Id"]
    sock = client.api.exec_start(exec_id, socket=True)
    raw = getattr(sock, "_sock", sock)
    raw.sendall(b"hello\nstdin\n")
    raw.shutdown(socket.SHUT_WR)
    output = consume_socket_output((demux_adaptor(*frame) for frame in frames_iter(sock, tty=False)), demux=True)
    sock.close()
    assert output == (b"hello\nstdin\n", None)
    assert client.api.exec_inspect(exec_id)["ExitCode"] == 0


def test_exec_in_a_created_container_is_409(client, name):
    c = client.containers.create(IMAGE, "sleep 300", name=name, labels={RUN_LABEL: RUN_ID})
    with pytest.raises(APIError) as info:
        c.exec_run("true")
    assert info.value.status_code == 409
    assert "is not running" in str(info.value.explanation)


def test_put_archive_before_start(client, name):
    content = b"key = value\nsecond line\n"
    c = client.containers.create(IMAGE, ["sh", "-c", "cat /cfg/app.conf; stat -c %a /cfg/app.conf"], name=name,
                                 labels={RUN_LABEL: RUN_ID})
    assert c.put_archive("/", make_tar([("cfg", 0o755, None), ("cfg/app.conf", 0o640, content)])) is True
    c.start()
    assert c.wait(timeout=60)["StatusCode"] == 0
    assert c.logs() == content + b"640\n"


def test_put_and_get_archive_round_trip(running):
    blob = os.urandom(150000)
    entries = [
        ("tree", 0o750, None),
        ("tree/plain.txt", 0o644, b"plain\n"),
        ("tree/run.sh", 0o755, b"#!/bin/sh\necho run\n"),
        ("tree/with space.txt", 0o600, b"spaces\n"),
        ("tree/nested", 0o700, None),
        ("tree/nested/blob.bin", 0o444, blob),
    ]
    # A directory of this test's own, in case the container shares the machine's filesystem (an unprotected simulator).
    base = f"/tmp/{RUN_ID}-{uuid.uuid4().hex[:6]}"
    assert running.exec_run(["mkdir", base]).exit_code == 0
    assert running.put_archive(base, make_tar(entries)) is True
    assert running.exec_run(["cat", f"{base}/tree/with space.txt"]).output == b"spaces\n"
    chunks, stat = running.get_archive(f"{base}/tree")
    assert stat["name"] == "tree"
    assert stat["mode"] & MODE_DIR
    assert stat["mode"] & 0o777 == 0o750
    assert read_tar(chunks) == {name: (mode, content) for name, mode, content in entries}
    chunks, stat = running.get_archive(f"{base}/tree/nested/blob.bin")
    assert (stat["name"], stat["size"], stat["mode"]) == ("blob.bin", len(blob), 0o444)
    assert read_tar(chunks) == {"blob.bin": (0o444, blob)}
    running.exec_run(["rm", "-rf", base])


def test_archive_missing_path_is_404(running):
    with pytest.raises(NotFound):
        running.get_archive("/no/such/path")
    with pytest.raises(NotFound):
        running.put_archive("/no/such/dir", make_tar([("f", 0o644, b"x")]))
