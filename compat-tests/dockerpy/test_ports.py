"""docker-py compatibility checks of published ports: `ports=` in its forms, `container.ports`, a client on this
machine reaching the server in the container through the published port, ports gone once the container stops,
and Docker's error for a port that is taken.

    DOCKER_HOST=unix:///path/to/docker.sock python3 -m pytest -q compat-tests/dockerpy/test_ports.py

Validated against Docker 20.10, run in its network namespace (docker-reference/nsrun.sh), where its published
ports listen. Docker answers every binding without a host address with 0.0.0.0 and ::; podshim with the
addresses it listens on (loopback for a podshim on a unix socket), so the checks read the address from the
answer and connect to 127.0.0.1.
"""

import socket
import time
import urllib.request
import uuid

import pytest
from docker.errors import APIError

from compat import IMAGE, RUN_ID, labels


def server(text):
    """Serves `text` at / on port 8000: busybox httpd where the image has it, else Python's (the simulated
    cluster runs this machine's binaries)."""
    www = f"/tmp/{RUN_ID}-www-{uuid.uuid4().hex[:6]}"
    return ["sh", "-c", f"mkdir -p {www} && echo {text} > {www}/index.html && "
            f"if command -v httpd >/dev/null; then exec httpd -f -p 8000 -h {www}; "
            f"else exec python3 -m http.server 8000 --directory {www}; fi"]


def fetch(port, timeout=30):
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                return answer.read().decode().strip()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ports_none_publishes_a_free_port_that_reaches_the_server(client, name):
    c = client.containers.run(IMAGE, server("hello-ports"), detach=True, name=name, labels=labels(),
                              ports={"8000/tcp": None})
    c.reload()
    bindings = c.ports["8000/tcp"]
    assert bindings and all(sorted(b) == ["HostIp", "HostPort"] and int(b["HostPort"]) > 0 for b in bindings)
    assert len({b["HostPort"] for b in bindings}) == 1, bindings
    assert fetch(int(bindings[0]["HostPort"])) == "hello-ports"
    assert client.api.port(c.id, 8000) == bindings
    c.stop(timeout=1)
    c.reload()
    assert c.ports == {}
    assert c.attrs["HostConfig"]["PortBindings"] == {"8000/tcp": [{"HostIp": "", "HostPort": ""}]}
    c.remove()


def test_ports_with_an_address_and_a_list_of_host_ports(client, name):
    first, second = free_port(), free_port()
    c = client.containers.run(IMAGE, server("two-ports"), detach=True, name=name, labels=labels(),
                              ports={"8000/tcp": [first, second], "9000/tcp": ("127.0.0.1",)})
    c.reload()
    assert sorted({int(b["HostPort"]) for b in c.ports["8000/tcp"]}) == sorted([first, second])
    assert [b["HostIp"] for b in c.ports["9000/tcp"]] == ["127.0.0.1"]
    assert fetch(first) == "two-ports" and fetch(second) == "two-ports"
    # Gone before the next check: on a cluster whose pods share the machine's network, port 8000 is the machine's.
    c.remove(force=True)


def test_a_port_already_published_is_dockers_error(client, name):
    port = free_port()
    c = client.containers.run(IMAGE, server("first"), detach=True, name=name, labels=labels(),
                              ports={"8000/tcp": ("127.0.0.1", port)})
    assert fetch(port) == "first"
    with pytest.raises(APIError) as err:
        client.containers.run(IMAGE, "sleep 60", detach=True, name=f"{name}-2", labels=labels(),
                              ports={"80/tcp": ("127.0.0.1", port)})
    assert err.value.status_code == 500
    assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in str(err.value)
    assert client.containers.get(f"{name}-2").status == "created"
    c.remove(force=True)
