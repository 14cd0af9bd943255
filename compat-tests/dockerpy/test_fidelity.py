"""docker-py checks for what docker-py's own integration suite found and the other checks here missed: how a TTY
exec is framed when started the low-level way, stdin-only attach sessions that detach, exec detach keys from the
client's config, one log item per line, GroupAdd, and the errors for bad input (each a Docker-style 4xx).

    DOCKER_HOST=unix:///path/to/docker.sock python3 -m pytest -q compat-tests/dockerpy/test_fidelity.py

Every test encodes what a real Docker Engine answers (checked against Docker 20.10 with a busybox image tagged
alpine), except where a comment says podshim refuses what Kubernetes cannot do (then Docker's own answer is
named). Set PODSHIM=1 for those checks to run (they are skipped against Docker).

Environment: DOCKER_HOST (required), IMAGE (default alpine), PODSHIM, NO_SECURITY_CONTEXT=1 for a kubelet that
applies no security context (the fake kubelet; NO_PID1_SIGNALS=1 means one too).
"""

import os
import time

import docker
import pytest
from docker.errors import APIError
from docker.utils.socket import next_frame_header, read_exactly

from compat import IMAGE, labels

PODSHIM = os.environ.get("PODSHIM") == "1"
podshim_only = pytest.mark.skipif(not PODSHIM, reason="podshim refuses what Kubernetes cannot do; Docker differs")


@pytest.fixture
def running(client, name):
    """A running container to exec in (stdin open, so attach with stdin works too)."""
    return client.containers.run(IMAGE, "cat", detach=True, stdin_open=True, name=name, labels=labels())


# The docker CLI and exec_run send the exec's own Tty in the start body, so a mismatch between the two never
# showed. docker-py's exec_start defaults to tty=False: Docker then frames the TTY exec's output.
def test_a_tty_exec_started_without_tty_is_framed(client, running):
    exec_id = client.api.exec_create(running.id, 'sh -c "echo hello out; echo hello err >&2"', tty=True)
    assert client.api.exec_start(exec_id) == b"hello out\r\nhello err\r\n"


def test_a_tty_exec_socket_reads_a_frame_header_first(client, running):
    exec_id = client.api.exec_create(running.id, ["printf", "yay"], tty=True)
    sock = client.api.exec_start(exec_id, socket=True)
    try:
        stream, size = next_frame_header(sock)
        assert (stream, size) == (1, 3)
        assert read_exactly(sock, size) == b"yay"
    finally:
        sock.close()


def test_a_tty_exec_started_with_tty_is_raw(client, running):
    exec_id = client.api.exec_create(running.id, ["printf", "yay"], tty=True)
    assert client.api.exec_start(exec_id, tty=True) == b"yay"


def detached(sock, keys):
    """Sends the detach keys half a second apart (as docker-py's own suite does); true when the session ended
    afterwards: the connection is closed, or (Docker, for an exec) says why it ended."""
    raw = getattr(sock, "_sock", sock)
    for key in keys:
        raw.sendall(key)
        time.sleep(0.5)
    try:
        raw.sendall(b"more\n")
        raw.settimeout(10)
        data = raw.recv(128)
    except OSError:
        return True
    return data == b"" or data.startswith(b"exec attach failed: error on attach stdin: read escape sequence")


# The CLI always asks for stdout with stdin; docker-py's attach_socket({'stdin': True, 'stream': True}) asks for
# stdin alone, and the session must last until the keys, not end at once for want of output.
def test_a_stdin_only_attach_lasts_until_the_detach_keys(client, name):
    container = client.containers.run(
        IMAGE, "cat", detach=True, stdin_open=True, tty=True, name=name, labels=labels()
    )
    sock = client.api.attach_socket(container.id, {"stdin": True, "stream": True})
    try:
        assert detached(sock, [b"\x10", b"\x11"])
    finally:
        sock.close()
    container.reload()
    assert container.status == "running"


# Go's JSON decoder ignores case: docker-py sends the client config's keys as `detachKeys`.
def test_exec_detach_keys_from_the_client_config(client, running):
    client.api._general_configs["detachKeys"] = "ctrl-p"
    try:
        exec_id = client.api.exec_create(running.id, "cat", stdin=True, tty=True, stdout=True)
    finally:
        del client.api._general_configs["detachKeys"]
    sock = client.api.exec_start(exec_id, tty=True, socket=True)
    try:
        assert detached(sock, [b"\x10"])
    finally:
        sock.close()


# docker-py yields one item per frame; Docker's log driver keeps one message per line.
def test_streamed_logs_yield_one_item_per_line(client, name):
    out = client.containers.run(IMAGE, 'sh -c "echo hello && echo world"', stream=True, name=name, labels=labels())
    assert list(out) == [b"hello\n", b"world\n"]


# A fake kubelet (NO_PID1_SIGNALS=1 marks one) runs processes without a security context.
@pytest.mark.skipif(
    os.environ.get("NO_SECURITY_CONTEXT") == "1" or os.environ.get("NO_PID1_SIGNALS") == "1",
    reason="the cluster's kubelet applies no security context",
)
def test_group_add_numeric_ids_reach_the_process(client, name):
    logs = client.containers.run(IMAGE, "id -G", group_add=[1000, "1001"], name=name, labels=labels())
    groups = logs.decode().split()
    assert "1000" in groups and "1001" in groups


def api(client, method, path, **kwargs):
    """A raw request through docker-py's session: (status, JSON body)."""
    url = client.api._url(path)
    r = getattr(client.api, f"_{method}")(url, **kwargs)
    try:
        body = r.json()
    except ValueError:
        body = None
    return r.status_code, body


@pytest.mark.parametrize(
    "image, message",
    [("   ", "invalid reference format"), ("BAD IMAGE!!", "invalid reference format: repository name must be lowercase")],
    ids=["blank", "upper-case"],
)
def test_an_invalid_image_name_is_refused_at_create(client, image, message):
    with pytest.raises(APIError) as err:
        client.api.create_container(image, "true", labels=labels())
    assert err.value.status_code == 400
    assert err.value.explanation == message


@podshim_only
@pytest.mark.parametrize(
    "host_config, option",
    [
        # Docker 20.10 creates these and fails at start (CpuShares) or writes them to resolv.conf as given.
        ({"CpuShares": -1}, "invalid CPU shares (-1)"),
        ({"DnsSearch": ["bad domain!"]}, "DnsSearch"),
        ({"DnsOptions": ["bad option"]}, "DnsOptions"),
    ],
    ids=["cpu-shares", "dns-search", "dns-options"],
)
def test_values_kubernetes_cannot_take_are_refused_at_create(client, host_config, option):
    status, body = api(client, "post_json", "/containers/create", data={"Image": IMAGE, "HostConfig": host_config})
    assert status == 400, body
    assert option in body["message"]


@podshim_only
def test_a_mac_address_is_refused_on_api_1_41(name):
    # Docker 20.10 sets it; Kubernetes cannot set a pod's MAC address.
    old = docker.APIClient(base_url=os.environ["DOCKER_HOST"], version="1.41")
    try:
        with pytest.raises(APIError) as err:
            old.create_container(IMAGE, "true", mac_address="02:42:ac:11:00:02", name=name, labels=labels())
        assert err.value.status_code == 400
        assert "MacAddress" in err.value.explanation
    finally:
        old.close()


@podshim_only
def test_a_relative_exec_working_dir_is_refused(client, running):
    # Docker 20.10 creates it and the exec fails at start (126); newer Docker refuses it at create.
    with pytest.raises(APIError) as err:
        client.api.exec_create(running.id, "pwd", workdir="rel/dir")
    assert err.value.status_code == 400
    assert "absolute" in err.value.explanation


@podshim_only
def test_bad_archive_paths_are_client_errors(client, running):
    # Docker 20.10 answers these with 500 (its lstat fails); they are the client's mistake.
    for path in ["/tm\x00p", "/" + "a" * 5000]:
        with pytest.raises(APIError) as err:
            client.api.get_archive(running.id, path)
        assert err.value.status_code == 400, path[:10]


def test_a_bad_tar_is_refused(client, running):
    with pytest.raises(APIError) as err:
        client.api.put_archive(running.id, "/tmp", b"\x01" * 3000)
    # Docker 20.10: 500 "Error processing tar file(exit status 1): archive/tar: invalid tar header".
    assert err.value.status_code in ((400,) if PODSHIM else (500,))
    assert "invalid tar header" in err.value.explanation


def test_the_api_serves_after_hostile_input(client):
    assert client.ping()
