"""Shared by the docker-py checks: the image, this run's id and label, and the client and name fixtures
(registered for the tests by conftest.py)."""

import os
import time
import uuid

import docker
import pytest

IMAGE = os.environ.get("IMAGE", "alpine")
RUN_ID = f"py{int(time.time())}{os.getpid()}"
RUN_LABEL = "podshim-compat-run"


def labels(**extra):
    """The labels of every container this run creates (the cleanup finds them by it)."""
    return {RUN_LABEL: RUN_ID, **extra}


@pytest.fixture(scope="session")
def client():
    if not os.environ.get("DOCKER_HOST"):
        pytest.exit("set DOCKER_HOST to the endpoint under test", returncode=2)
    c = docker.from_env(timeout=120)
    # As with Docker, `containers.create` needs the image pulled (`containers.run` pulls by itself).
    c.images.pull(IMAGE)
    yield c
    try:
        leftovers = c.containers.list(all=True, filters={"label": f"{RUN_LABEL}={RUN_ID}"})
    except docker.errors.APIError:
        leftovers = []
    for container in leftovers:
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass
    c.close()


@pytest.fixture
def name(request):
    """A container name unique to this run and test."""
    return f"{RUN_ID}-{request.node.name.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
