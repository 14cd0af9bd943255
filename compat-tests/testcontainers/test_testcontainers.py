"""testcontainers-python 4.15 compatibility checks: a generic container with a command, environment, files
copied in before start, a log wait, exec, and files copied in and out while it runs.

    DOCKER_HOST=unix:///path/to/docker.sock TESTCONTAINERS_RYUK_DISABLED=true \\
        python3 -m pytest -q compat-tests/testcontainers

Every test encodes what a real Docker Engine answers (validated against Docker 20.10 with a busybox image
tagged alpine), so the same file runs against Docker and against podshim. Ryuk (testcontainers' reaper,
which needs the Docker socket mounted into a container of its own) is switched off: the containers are
removed when their `with` block ends, and carry a label unique to the run in case a test dies before that.

Environment: DOCKER_HOST (required), IMAGE (default alpine).
"""

import os
import pathlib
import time
import urllib.request

# Read by testcontainers when it first needs its configuration; set before anything of it runs.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

import docker  # noqa: E402
import pytest  # noqa: E402
from testcontainers.core.container import DockerContainer  # noqa: E402
from testcontainers.core.wait_strategies import LogMessageWaitStrategy  # noqa: E402
from testcontainers.core.waiting_utils import wait_for_logs  # noqa: E402

IMAGE = os.environ.get("IMAGE", "alpine")
RUN_ID = f"tc{int(time.time())}{os.getpid()}"
RUN_LABEL = "podshim-compat-run"
# wait_for_logs with a string is what the issue names (and what most suites still call); 4.x deprecates it.
pytestmark = pytest.mark.filterwarnings("ignore:The wait_for_logs function:DeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def endpoint():
    if not os.environ.get("DOCKER_HOST"):
        pytest.exit("set DOCKER_HOST to the endpoint under test", returncode=2)
    yield
    client = docker.from_env(timeout=60)
    try:
        for container in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={RUN_ID}"}):
            container.remove(force=True)
    except docker.errors.APIError:
        pass
    client.close()


def container(command):
    return DockerContainer(IMAGE).with_command(command).with_kwargs(labels={RUN_LABEL: RUN_ID})


def test_command_env_logs_exec():
    with container(["sh", "-c", "echo ready; sleep 300"]).with_env("FOO", "bar") as c:
        wait_for_logs(c, "ready", timeout=60)
        result = c.exec(["sh", "-c", "echo $FOO; exit 2"])
        assert (result.exit_code, result.output) == (2, b"bar\n")
        assert c.exec("echo second").output == b"second\n"
        assert c.get_logs() == (b"ready\n", b"")


def test_file_copied_in_before_start_is_read_by_the_command(tmp_path):
    config = b"greeting = hello from the host\n"
    script = tmp_path / "script.sh"
    script.write_bytes(b"#!/bin/sh\necho script ran\n")
    command = ["sh", "-c", "cat /etc/app/app.conf; /opt/script.sh; echo ready; sleep 300"]
    tc = (
        container(command)
        .with_copy_into_container(config, "/etc/app/app.conf", 0o640)
        .with_copy_into_container(script, "/opt/script.sh", 0o755)
    )
    with tc as c:
        wait_for_logs(c, "ready", timeout=60)
        stdout, stderr = c.get_logs()
        assert stdout == config + b"script ran\nready\n"
        assert stderr == b""
        assert c.exec(["stat", "-c", "%a", "/etc/app/app.conf", "/opt/script.sh"]).output == b"640\n755\n"


def test_copy_in_and_out_while_running(tmp_path):
    # The structured wait: start() returns once the strategy is satisfied.
    with container(["sh", "-c", "echo ready; sleep 300"]).waiting_for(LogMessageWaitStrategy("ready")) as c:
        # A path of this run's own: the simulated cluster's containers share this machine's filesystem.
        inside = f"/tmp/{RUN_ID}-running.txt"
        c.copy_into_container(b"written while running\n", inside)
        assert c.exec(["cat", inside]).output == b"written while running\n"
        out = tmp_path / "back.txt"
        c.copy_from_container(inside, pathlib.Path(out))
        assert out.read_bytes() == b"written while running\n"
        c.exec(["rm", "-f", inside])


def test_exposed_port_reaches_a_server_in_the_container():
    www = f"/tmp/{RUN_ID}-www"
    serve = (f"mkdir -p {www} && echo served > {www}/index.html && if command -v httpd >/dev/null; "
             f"then exec httpd -f -p 8000 -h {www}; else exec python3 -m http.server 8000 --directory {www}; fi")
    with container(["sh", "-c", serve]).with_exposed_ports(8000) as c:
        host, port = c.get_container_host_ip(), int(c.get_exposed_port(8000))
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as answer:
                    assert answer.read() == b"served\n"
                    break
            except OSError:
                assert time.time() < deadline, f"nothing answered at {host}:{port}"
                time.sleep(0.2)
