"""docker-py checks for images: get, pull, list with filters, one image id, missing images.

Every test encodes what a real Docker Engine answers (checked against Docker 20.10 pulling from a distribution 2.8
registry). The endpoint must pull Docker Hub's IMAGE (default alpine) from its registry.
"""

import docker
import pytest

from compat import IMAGE, RUN_ID, labels


def test_get_and_pull_give_one_image(client):
    pulled = client.images.pull(IMAGE, tag="latest")
    got = client.images.get(IMAGE)
    assert pulled.id == got.id
    assert got.id.startswith("sha256:") and len(got.id) == 71
    assert f"{IMAGE}:latest" in got.tags
    assert got.attrs["RepoDigests"][0].startswith(f"{IMAGE}@sha256:")
    assert got.attrs["Os"] == "linux"
    assert got.attrs["Config"]["Cmd"]


def test_container_image_is_the_image(client, name):
    c = client.containers.create(IMAGE, "true", name=name, labels=labels())
    try:
        assert c.image == client.images.get(IMAGE)
        assert c.attrs["Image"] == client.images.get(IMAGE).id
        listed = client.api.containers(all=True, filters={"name": name})
        assert listed[0]["ImageID"] == c.attrs["Image"]
        assert listed[0]["Image"] == IMAGE
    finally:
        c.remove(force=True)


def test_list_filters(client):
    image = client.images.get(IMAGE)
    tag = f"podshim-compat/{RUN_ID}:list"
    image.tag(tag)
    try:
        ids = [i.id for i in client.images.list()]
        assert image.id in ids
        assert [i.id for i in client.images.list(name=f"podshim-compat/{RUN_ID}")] == [image.id]
        # The list names only the references that match (the model's `tags` come from a get by id).
        assert client.api.images(filters={"reference": f"podshim-compat/{RUN_ID}:*"})[0]["RepoTags"] == [tag]
        assert client.images.list(filters={"reference": "nosuch-podshim-compat"}) == []
        assert image.id not in [i.id for i in client.images.list(filters={"dangling": True})]
        assert image.id in [i.id for i in client.images.list(filters={"dangling": False})]
        assert client.images.list(filters={"label": f"nosuch-{RUN_ID}"}) == []
        quiet = client.api.images(quiet=True)
        assert image.id in quiet
        assert len({i["Id"] for i in client.api.images(all=True)}) == client.info()["Images"]
    finally:
        client.images.remove(tag)


def test_missing_image(client):
    with pytest.raises(docker.errors.ImageNotFound) as err:
        client.images.get(f"nosuch-{RUN_ID}")
    assert err.value.status_code == 404
    assert f"No such image: nosuch-{RUN_ID}:latest" in str(err.value)
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create(f"nosuch-{RUN_ID}", "true")


def test_run_of_a_missing_image_is_image_not_found(client):
    # containers.run creates (404), pulls (the registry has no such repository), then raises.
    with pytest.raises(docker.errors.ImageNotFound) as err:
        client.containers.run(f"dockerpytest_does_not_exist_{RUN_ID}")
    assert "repository does not exist" in str(err.value)


def test_pull_of_a_missing_tag(client):
    with pytest.raises(docker.errors.NotFound) as err:
        client.images.pull(IMAGE, tag=f"nosuch{RUN_ID}")
    assert f"manifest for {IMAGE}:nosuch{RUN_ID} not found: manifest unknown" in str(err.value)


def test_history_and_remove_of_a_tag(client):
    image = client.images.get(IMAGE)
    history = image.history()
    assert history[0]["Id"] == image.id
    tag = f"podshim-compat/{RUN_ID}:rm"
    image.tag(tag)
    assert client.api.remove_image(tag) == [{"Untagged": tag}]
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(tag)
