#!/usr/bin/env python3
"""Writes an OCI image layout whose image reuses the layers of another layout's image with a config of our own.

usage: derive_image.py SRC_LAYOUT DEST_LAYOUT CONFIG_JSON

SRC_LAYOUT holds one image (as `skopeo copy ... oci:DIR` writes it); DEST_LAYOUT gets the same layers, the runtime
config CONFIG_JSON (the `config` object of an image config: Entrypoint, Cmd, Env, WorkingDir, User, Labels,
ExposedPorts, Volumes, StopSignal, Healthcheck, ...) and a history entry. Push it with
`skopeo copy oci:DEST_LAYOUT docker://REGISTRY/REPO:TAG`.
"""
import hashlib
import json
import os
import shutil
import sys


def blob(layout, digest):
    return os.path.join(layout, "blobs", *digest.split(":", 1))


def write_blob(layout, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob(layout, digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return digest


def main(src, dest, runtime_config):
    with open(os.path.join(src, "index.json")) as f:
        index = json.load(f)
    with open(blob(src, index["manifests"][0]["digest"]), "rb") as f:
        manifest = json.load(f)
    with open(blob(src, manifest["config"]["digest"]), "rb") as f:
        base = json.load(f)
    os.makedirs(os.path.join(dest, "blobs", "sha256"), exist_ok=True)
    for layer in manifest["layers"]:
        shutil.copyfile(blob(src, layer["digest"]), blob(dest, layer["digest"]))
    config = {
        "architecture": base.get("architecture", "amd64"),
        "os": base.get("os", "linux"),
        "created": "2024-01-02T03:04:05Z",
        "author": "podshim compat-tests",
        "config": runtime_config,
        "rootfs": base["rootfs"],
        "history": base.get("history", []) + [
            {"created": "2024-01-02T03:04:05Z", "created_by": "derive_image.py", "empty_layer": True}],
    }
    data = json.dumps(config, sort_keys=True).encode()
    manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": write_blob(dest, data), "size": len(data)}
    mdata = json.dumps(manifest, sort_keys=True).encode()
    mdigest = write_blob(dest, mdata)
    with open(os.path.join(dest, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(dest, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json"),
             "digest": mdigest, "size": len(mdata)}]}, f)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
