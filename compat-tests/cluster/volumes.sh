#!/usr/bin/env bash
# Claims that bind, checked with kubectl on a cluster with a default StorageClass and a provisioner: the simulated
# cluster (podshim --sim / podshim sim-cluster) and the realk8s real node with compat-tests/cluster/pv-provisioner.py
# running must give the same answers (those of kube-controller-manager and kube-scheduler 1.20 on the real node).
#
#   KUBECONFIG=<sim data dir>/kubeconfig bash compat-tests/cluster/volumes.sh
#   python3 compat-tests/cluster/pv-provisioner.py --kubeconfig /tmp/rk/kubeconfig &
#   KUBECONFIG=/tmp/rk/kubeconfig bash compat-tests/cluster/volumes.sh
#
# Output: `ok - NAME` / `not ok - NAME: WHY` per check, then `N passed, M failed`. It works in a namespace
# volumes-<time>-<pid>, deleted at the end. Needs bash, jq and coreutils `timeout`; pods use the image `alpine`.
set -euo pipefail

KUBECTL=${KUBECTL:-kubectl}
NS="volumes-$(date +%s)-$$"
SUITE=volumes
WORK=$(mktemp -d)
# shellcheck source=../checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"

cleanup() {
  local rc=$?
  timeout 20 "$KUBECTL" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

k() { timeout "${KTIMEOUT:-30}" "$KUBECTL" -n "$NS" "$@"; }

claim() { # NAME [CLASS]: a claim labelled as podshim labels a volume's; CLASS "-" leaves storageClassName out
  local class=${2:--}
  jq -n --arg name "$1" --arg class "$class" '{apiVersion: "v1", kind: "PersistentVolumeClaim",
    metadata: {name: $name, labels: {"podshim.io/volume": "true"}},
    spec: ({accessModes: ["ReadWriteOnce"], resources: {requests: {storage: "1Gi"}}}
      + (if $class == "-" then {} else {storageClassName: $class} end))}' | k create -f - >/dev/null
}

pod() { # NAME CLAIM SCRIPT
  jq -n --arg name "$1" --arg claim "$2" --arg script "$3" '{apiVersion: "v1", kind: "Pod",
    metadata: {name: $name}, spec: {restartPolicy: "Never",
      containers: [{name: "c", image: "alpine", command: ["sh", "-c", $script],
        volumeMounts: [{name: "v", mountPath: "/data"}]}],
      volumes: [{name: "v", persistentVolumeClaim: {claimName: $claim}}]}}' | k create -f - >/dev/null
}

# Waits (SECONDS, default 30) until `k get KIND NAME -o jsonpath=PATH` prints WANT; fails with what it printed.
wait_for() { # KIND NAME PATH WANT [SECONDS]
  local deadline=$((SECONDS + ${5:-30})) got=
  while ((SECONDS < deadline)); do
    got=$(k get "$1" "$2" -o "jsonpath=$3" 2>/dev/null || true)
    [[ $got == "$4" ]] && return 0
    sleep 0.3
  done
  fail_because "$1 $2: $3 is '$got' after ${5:-30}s, waited for '$4'"
}

scheduled_message() { # POD: the message of its PodScheduled=False condition
  k get pod "$1" -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}'
}

default_class() {
  timeout 30 "$KUBECTL" get storageclasses -o json | jq -r '[.items[] | select(.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true") | .metadata.name] | join(",")'
}

check_default_class() {
  local class
  class=$(default_class)
  [[ -n $class && $class != *,* ]] || fail_because "expected one default StorageClass, got '$class'"
}

check_claim_binds_and_data_follows() {
  claim data
  expect_eq "the claim's class (DefaultStorageClass admission)" "$(default_class)" \
    "$(k get pvc data -o jsonpath='{.spec.storageClassName}')"
  wait_for pvc data '{.status.phase}' Bound
  local volume
  volume=$(k get pvc data -o jsonpath='{.spec.volumeName}')
  expect_eq "the claim's capacity and access modes" "1Gi ReadWriteOnce" \
    "$(k get pvc data -o jsonpath='{.status.capacity.storage} {.status.accessModes[*]}')"
  expect_eq "the volume's claimRef, phase and class" "$NS/data Bound $(default_class)" \
    "$(k get pv "$volume" -o jsonpath='{.spec.claimRef.namespace}/{.spec.claimRef.name} {.status.phase} {.spec.storageClassName}')"
  pod writer data 'echo kept > /data/f'
  wait_for pod writer '{.status.phase}' Succeeded 60
  pod reader data 'cat /data/f'
  wait_for pod reader '{.status.phase}' Succeeded 60
  expect_eq "what the second pod read" kept "$(k logs reader)"
}

check_missing_class_stays_pending() {
  claim nowhere nosuch
  pod stuck nowhere true
  wait_for pod stuck '{.status.conditions[?(@.type=="PodScheduled")].reason}' Unschedulable
  expect_eq "the pod's PodScheduled message" \
    "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims." "$(scheduled_message stuck)"
  expect_eq "the claim's phase" Pending "$(k get pvc nowhere -o jsonpath='{.status.phase}')"
  expect_eq "the PersistentVolume controller's event" \
    'Warning ProvisioningFailed storageclass.storage.k8s.io "nosuch" not found' \
    "$(k get events --field-selector involvedObject.name=nowhere -o json |
      jq -r '[.items[] | select(.reason == "ProvisioningFailed")][0] | "\(.type) \(.reason) \(.message)"')"
}

check_missing_claim_unschedulable() {
  pod lonely nosuchclaim true
  wait_for pod lonely '{.status.conditions[?(@.type=="PodScheduled")].reason}' Unschedulable
  expect_eq "the pod's PodScheduled message" \
    '0/1 nodes are available: 1 persistentvolumeclaim "nosuchclaim" not found.' "$(scheduled_message lonely)"
}

check_claim_in_use_is_kept_then_its_volume_deleted() {
  claim held
  wait_for pvc held '{.status.phase}' Bound
  local volume
  volume=$(k get pvc held -o jsonpath='{.spec.volumeName}')
  pod user held 'sleep 3600'
  wait_for pod user '{.status.phase}' Running 60
  k delete pvc held --wait=false >/dev/null
  sleep 2
  expect_eq "the claim while a pod uses it (pvc-protection)" "Bound yes" \
    "$(k get pvc held -o jsonpath='{.status.phase} {.metadata.deletionTimestamp}' | sed 's/ [0-9TZ:-]*$/ yes/')"
  k delete pod user --grace-period=1 >/dev/null
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    k get pvc held >/dev/null 2>&1 || timeout 30 "$KUBECTL" get pv "$volume" >/dev/null 2>&1 || return 0
    sleep 0.5
  done
  fail_because "claim held or volume $volume still there 30 s after its pod went"
}

k create namespace "$NS" >/dev/null 2>&1 || timeout 30 "$KUBECTL" create namespace "$NS" >/dev/null
check default-storage-class check_default_class
check claim-binds-and-data-follows check_claim_binds_and_data_follows
check missing-class-stays-pending check_missing_class_stays_pending
check missing-claim-unschedulable check_missing_claim_unschedulable
check claim-in-use-kept-then-volume-deleted check_claim_in_use_is_kept_then_its_volume_deleted
summarize
