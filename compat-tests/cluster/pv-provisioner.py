#!/usr/bin/env python3
"""A test cluster's volume provisioner: hostPath PersistentVolumes for podshim's claims.

A real cluster has a dynamic provisioner behind its default StorageClass; the realk8s test node (shared/realk8s)
has neither, so a claim there stays Pending for ever. This script stands for both. With the cluster's ADMIN
kubeconfig it

- at start, unless a StorageClass is already marked default, creates the default StorageClass `standard`
  (provisioner `podshim.io/test-provisioner`, volumeBindingMode Immediate): the API server's DefaultStorageClass
  admission then gives it to every new claim without `storageClassName`, as on a real cluster;
- polls once a second, and for every Pending PersistentVolumeClaim labelled `podshim.io/volume=true` (podshim's
  volumes) or `podshim.io/test-provision=true` (a test's own claims, e.g. the one `--bind-map` maps onto) (any
  namespace, not being deleted, no volume yet, no PersistentVolume of ours for it yet) whose class is served here
  (a class whose provisioner is `podshim.io/test-provisioner`, or no class / "", where an administrator's pre-made
  volume would do) creates a `hostPath` PersistentVolume `pvc-<claim uid>`: path `ROOT/pvc-<claim uid>` (made here,
  mode 0777, so containers that do not run as root can write too; type `DirectoryOrCreate`), capacity = the claim's
  `requests.storage`, the claim's access modes and volume mode, `storageClassName` = the claim's (or ""), `claimRef`
  to the claim (name, namespace and uid). kube-controller-manager's PersistentVolume controller then binds the two,
  as it binds any pre-bound volume. A claim naming a class that does not exist, or another provisioner's, is left
  Pending, as a real cluster leaves it (the controller records the Event saying why);
- deletes the PersistentVolumes it made whose claim is gone (phase Released or Failed: the claim was deleted, which
  the `kubernetes.io/pvc-protection` finalizer lets happen only once no pod uses it) and their directories. Its
  volumes say reclaim policy Retain, so that kube-controller-manager leaves them to this script (it has no deleter
  for hostPath volumes): deleting them with their claim is what the class's Delete stands for.

It only deletes PersistentVolumes labelled `podshim.io/test-provisioner=true`. Standard library and the kubectl
binary only; every kubectl call has a time limit.

    pv-provisioner.py --kubeconfig STATE/kubeconfig [--root DIR] [--interval 1] [--duration SECONDS] [--once]
                      [--no-default-class]

ROOT defaults to `<the kubeconfig's directory>/pv` (for realk8s: the state directory, on the node's file system).
It runs until SIGTERM/SIGINT (or for --duration seconds); --once does one pass. It logs what it does on stderr.
The StorageClass stays when it stops (it goes with the test cluster).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

CLAIM_LABELS = ["podshim.io/volume=true", "podshim.io/test-provision=true"]
OURS_KEY = "podshim.io/test-provisioner"
PROVISIONER = "podshim.io/test-provisioner"
DEFAULT_CLASS = "standard"
DEFAULT_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")
KUBECTL_TIMEOUT = 20


def log(message):
    print(f"pv-provisioner: {message}", file=sys.stderr, flush=True)


class Kubectl:
    def __init__(self, binary, kubeconfig):
        self.base = [binary, "--kubeconfig", kubeconfig, "--request-timeout=15s"]

    def run(self, args, stdin=None):
        done = subprocess.run(self.base + args, input=stdin, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def items(self, args):
        return json.loads(self.run(["get"] + args + ["-o", "json"]))["items"]


def volume_for(claim, root):
    """The PersistentVolume that stands for `claim`'s provisioned volume."""
    meta, spec = claim["metadata"], claim.get("spec") or {}
    name = f"pvc-{meta['uid']}"
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "labels": {OURS_KEY: "true"},
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "storageClassName": spec.get("storageClassName") or "",
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
            "hostPath": {"path": os.path.join(root, name), "type": "DirectoryOrCreate"},
        },
    }


def needs_volume(claim, claimed_uids, our_classes):
    meta, spec = claim["metadata"], claim.get("spec") or {}
    return (
        (claim.get("status") or {}).get("phase") == "Pending"
        and not meta.get("deletionTimestamp")
        and not spec.get("volumeName")
        and meta["uid"] not in claimed_uids
        and (spec.get("storageClassName") or "") in our_classes
    )


def ensure_default_class(kubectl):
    """Creates the default StorageClass `standard` unless some class is marked default already."""
    classes = kubectl.items(["storageclasses"])
    marked = [c for c in classes if any(((c["metadata"].get("annotations") or {}).get(a)) == "true"
                                        for a in DEFAULT_ANNOTATIONS)]
    if marked:
        log(f"default StorageClass: {marked[0]['metadata']['name']} (there already)")
        return
    cls = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
           "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_ANNOTATIONS[0]: "true"}},
           "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
    try:
        kubectl.run(["create", "-f", "-"], stdin=json.dumps(cls))
        log(f"created the default StorageClass {DEFAULT_CLASS} (provisioner {PROVISIONER})")
    except RuntimeError as err:
        if "AlreadyExists" not in str(err):
            raise


def inside(root, path):
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(path)]) == root and os.path.realpath(path) != root


def sync(kubectl, root):
    """One pass: provision for waiting claims, reclaim released volumes."""
    claims = [c for label in CLAIM_LABELS for c in kubectl.items(["persistentvolumeclaims", "--all-namespaces", "-l", label])]
    ours = kubectl.items(["persistentvolumes", "-l", f"{OURS_KEY}=true"])
    classes = kubectl.items(["storageclasses"])
    our_classes = {""} | {c["metadata"]["name"] for c in classes if c.get("provisioner") == PROVISIONER}
    claimed = {((pv["spec"].get("claimRef") or {}).get("uid")) for pv in ours}
    for claim in claims:
        if not needs_volume(claim, claimed, our_classes):
            continue
        volume = volume_for(claim, root)
        path = volume["spec"]["hostPath"]["path"]
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o777)
        try:
            kubectl.run(["create", "-f", "-"], stdin=json.dumps(volume))
        except RuntimeError as err:
            if "AlreadyExists" not in str(err):
                raise
        meta = claim["metadata"]
        log(f"provisioned {volume['metadata']['name']} ({volume['spec']['capacity']['storage']}, {path}) "
            f"for {meta['namespace']}/{meta['name']}")
    for pv in ours:
        phase = (pv.get("status") or {}).get("phase")
        if phase not in ("Released", "Failed") or pv["metadata"].get("deletionTimestamp"):
            continue
        name = pv["metadata"]["name"]
        kubectl.run(["delete", "persistentvolume", name, "--wait=false", "--ignore-not-found"])
        path = ((pv["spec"].get("hostPath") or {}).get("path")) or ""
        if path and inside(root, path):
            shutil.rmtree(path, ignore_errors=True)
        ref = pv["spec"].get("claimRef") or {}
        log(f"deleted {name} and {path} (claim {ref.get('namespace')}/{ref.get('name')} is gone)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="the ADMIN kubeconfig")
    parser.add_argument("--root", help="where the volumes' directories go (default: <kubeconfig's dir>/pv)")
    parser.add_argument("--kubectl", default=os.environ.get("KUBECTL", "kubectl"))
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes (default 1)")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (default: never)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--no-default-class", action="store_true",
                        help="create no default StorageClass (claims without a class still get volumes)")
    args = parser.parse_args()
    if not args.kubeconfig:
        parser.error("--kubeconfig (or KUBECONFIG) is required")
    root = os.path.abspath(args.root or os.path.join(os.path.dirname(os.path.abspath(args.kubeconfig)), "pv"))
    os.makedirs(root, exist_ok=True)
    kubectl = Kubectl(args.kubectl, args.kubeconfig)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    log(f"watching claims labelled {' or '.join(CLAIM_LABELS)}; volumes under {root}")
    made_class = args.no_default_class
    while not stopping:
        if not made_class:
            try:
                ensure_default_class(kubectl)
                made_class = True
            except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as err:
                log(f"cannot create the default StorageClass yet: {err}")
        try:
            sync(kubectl, root)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError, OSError) as err:
            log(f"pass failed, trying again: {err}")
        if args.once or (deadline is not None and time.monotonic() >= deadline):
            break
        end = time.monotonic() + args.interval
        while not stopping and time.monotonic() < end:
            time.sleep(min(0.1, args.interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
