"""docker-py 7.1 compatibility checks: the container lifecycle through the real Python client.

    DOCKER_HOST=unix:///path/to/docker.sock python3 -m pytest -q compat-tests/dockerpy

Every test encodes what a real Docker Engine answers (validated against Docker 20.10 with a busybox image
tagged alpine), so the same file runs against Docker and against podshim. Containers carry a label unique to
the run and are force-removed at the end.

Environment: DOCKER_HOST (required), IMAGE (default alpine), MERGED_LOG_STREAMS=1 when the endpoint cannot
tell stdout from stderr (podshim on a Kubernetes without split log streams): the checks that need the two
streams apart then only require every line exactly once across both.
"""

import os
import time
import uuid

import docker
import pytest
from docker.errors import ContainerError, NotFound

from compat import IMAGE, RUN_ID, RUN_LABEL, labels  # noqa: F401
MERGED = os.environ.get("MERGED_LOG_STREAMS") == "1"





def test_run_remove_returns_stdout(client, name):
    out = client.containers.run(IMAGE, "echo hi", remove=True, name=name, labels=labels())
    assert out == b"hi\n"
    with pytest.raises(NotFound):
        client.containers.get(name)


def test_run_collects_stdout_only_by_default(client, name):
    out = client.containers.run(IMAGE, ["sh", "-c", "echo out; echo err >&2"], remove=True, name=name,
                                labels=labels())
    if MERGED:
        assert out in (b"out\n", b"out\nerr\n", b"err\nout\n")
    else:
        assert out == b"out\n"


def test_detach_wait_gives_the_exit_code(client, name):
    c = client.containers.run(IMAGE, ["sh", "-c", "echo out; echo err >&2; exit 3"], detach=True, name=name,
                              labels=labels())
    result = c.wait(timeout=60)
    assert result["StatusCode"] == 3
    # Docker 20.10 omits Error; newer engines send null.
    assert result.get("Error") is None
    assert sorted(c.logs().splitlines()) == [b"err", b"out"]
    if not MERGED:
        assert c.logs(stdout=False, stderr=True) == b"err\n"
        assert c.logs(stdout=True, stderr=False) == b"out\n"
    c.remove()
    with pytest.raises(NotFound):
        client.containers.get(c.id)


def test_logs_keep_the_order_of_stdout_and_stderr(client, name):
    # A worker reading c.logs() after wait sees the lines in the order they were written, both streams
    # together, as Docker logs them.
    streams = [">&1", ">&1", ">&2", ">&1", ">&2", ">&2"]
    script = "; sleep 0.05; ".join(f"echo {letter} {fd}" for letter, fd in zip("abcdef", streams))
    c = client.containers.run(IMAGE, ["sh", "-c", script], detach=True, name=name, labels=labels())
    assert c.wait(timeout=60)["StatusCode"] == 0
    assert c.logs() == b"a\nb\nc\nd\ne\nf\n"
    if not MERGED:
        assert c.logs(stdout=False, stderr=True) == b"c\ne\nf\n"
    c.remove()


def test_container_error_on_non_zero_exit(client, name):
    with pytest.raises(ContainerError) as info:
        client.containers.run(IMAGE, ["sh", "-c", "echo out; echo boom >&2; exit 4"], name=name,
                              labels=labels())
    err = info.value
    assert err.exit_status == 4
    if not MERGED:  # docker-py reads stderr alone with logs(stdout=False)
        assert err.stderr == b"boom\n"
    assert err.container.name == name
    assert err.image == IMAGE


def test_container_error_with_remove(client, name):
    with pytest.raises(ContainerError) as info:
        client.containers.run(IMAGE, ["sh", "-c", "echo bad >&2; exit 2"], remove=True, name=name,
                              labels=labels())
    assert info.value.exit_status == 2
    if not MERGED:
        assert info.value.stderr == b"bad\n"


def test_not_found(client, name):
    with pytest.raises(NotFound) as info:
        client.containers.get(name)
    assert info.value.status_code == 404
    assert f"No such container: {name}" in str(info.value.explanation)


def test_list_filters_by_label(client, name):
    marker = uuid.uuid4().hex
    c = client.containers.run(IMAGE, "sleep 300", detach=True, name=name, labels=labels(k=marker))
    other = client.containers.run(IMAGE, "sleep 300", detach=True, name=name + "-other",
                                  labels=labels(k=marker + "x"))
    found = client.containers.list(filters={"label": f"k={marker}"})
    assert [x.id for x in found] == [c.id]
    assert found[0].labels["k"] == marker
    assert found[0].name == name
    assert found[0].status == "running"
    assert [x.id for x in client.containers.list(filters={"label": f"k={marker}", "status": "exited"})] == []
    c.kill()
    c.wait(timeout=60)
    assert [x.id for x in client.containers.list(filters={"label": f"k={marker}"})] == []
    assert [x.id for x in client.containers.list(all=True, filters={"label": f"k={marker}"})] == [c.id]
    other.remove(force=True)


def test_remove_force_running(client, name):
    c = client.containers.run(IMAGE, "sleep 300", detach=True, name=name, labels=labels())
    c.reload()
    assert c.status == "running"
    with pytest.raises(docker.errors.APIError) as info:
        c.remove()
    assert info.value.status_code == 409
    c.remove(force=True)
    with pytest.raises(NotFound):
        client.containers.get(c.id)


def test_rename(client, name):
    c = client.containers.create(IMAGE, "true", name=name, labels=labels())
    c.rename(name + "-new")
    c.reload()
    assert c.name == name + "-new"
    assert client.containers.get(name + "-new").id == c.id
    with pytest.raises(NotFound):
        client.containers.get(name)


def test_inspect_fields(client, name):
    c = client.containers.run(IMAGE, ["sh", "-c", "exit 6"], detach=True, name=name, environment={"FOO": "bar"},
                              working_dir="/tmp", labels=labels(app="x"))
    assert c.wait(timeout=60)["StatusCode"] == 6
    attrs = client.api.inspect_container(c.id)
    assert len(attrs["Id"]) == 64 and all(ch in "0123456789abcdef" for ch in attrs["Id"])
    assert attrs["Name"] == "/" + name
    assert attrs["Config"]["Image"] == IMAGE
    assert attrs["Config"]["Cmd"] == ["sh", "-c", "exit 6"]
    assert "FOO=bar" in attrs["Config"]["Env"]
    assert attrs["Config"]["WorkingDir"] == "/tmp"
    assert attrs["Config"]["Labels"]["app"] == "x"
    state = attrs["State"]
    assert state["Status"] == "exited"
    assert state["Running"] is False
    assert state["ExitCode"] == 6
    assert not state["FinishedAt"].startswith("0001-")
    assert not state["StartedAt"].startswith("0001-")
    # Lookup by a unique id prefix.
    assert client.containers.get(c.id[:12]).id == c.id
    c.remove()


def test_created_then_started(client, name):
    c = client.containers.create(IMAGE, ["sh", "-c", "echo started"], name=name, labels=labels())
    c.reload()
    assert c.status == "created"
    c.start()
    assert c.wait(timeout=60)["StatusCode"] == 0
    assert c.logs() == b"started\n"
    c.reload()
    assert c.status == "exited"
    c.remove()
