#!/usr/bin/env bash
# A private registry with basic authentication, and an image whose config sets Entrypoint, Cmd, Env, WorkingDir,
# User, Labels, ExposedPorts, Volumes and StopSignal: docker login, docker run, docker inspect's merged Config,
# the error without credentials, and (with kubectl) where the password is kept.
#
#   DOCKER_HOST=unix:///path/to/docker.sock [PODSHIM_KUBECONFIG=... PODSHIM_NAMESPACE=... [ADMIN_KUBECONFIG=...]] \
#     [CERTS_D=/path/to/containerd/certs.d] [RUNS_IMAGE_CONFIG=1] bash compat-tests/registry/private.sh
#
# With PODSHIM_KUBECONFIG, kubectl checks where the password is kept; it reads Secrets, which a podshim with only
# k8s/rbac.yaml's Role may not: ADMIN_KUBECONFIG (credentials that may) is used for that when set.
#
# It starts Debian's `docker-registry` (distribution 2.8) with an htpasswd file on 127.0.0.1:$PRIVATE_PORT
# (default 5001), builds the image from SOURCE_IMAGE's layers (default: busybox from 127.0.0.1:5000, the real
# node's registry) with compat-tests/registry/derive_image.py and pushes it with skopeo. With CERTS_D (the
# node's containerd `certs.d` directory) it writes a plain-HTTP hosts.toml for the registry there, as the
# realk8s harness does for its own, and removes it at the end. RUNS_IMAGE_CONFIG=1 (a node that runs images)
# also checks what the container prints. Expectations were checked against Docker 20.10 pulling the same image.
# PRIVATE_REGISTRY_ADDR=HOST:PORT with PRIVATE_USER and PRIVATE_PASSWORD uses a registry that already runs (with
# basic authentication for that user, and pushes) instead: the simulated cluster's private one, the only registry
# besides its public one that its node pulls from.
# Needs docker-registry, htpasswd (apache2-utils), skopeo, python3.
set -euo pipefail

PREFIX=priv
SUITE=private-registry
# shellcheck source=../cli/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cli/common.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REGISTRY=${PRIVATE_REGISTRY_ADDR:-127.0.0.1:${PRIVATE_PORT:-5001}}
SOURCE_IMAGE=${SOURCE_IMAGE:-127.0.0.1:5000/library/busybox:latest}
USER_NAME=${PRIVATE_USER:-podshim-compat}
PASSWORD=${PRIVATE_PASSWORD:-pw-$RUN_ID-secret}
KIT=$REGISTRY/private/kit:$RUN_ID
KUBECTL=${KUBECTL:-kubectl}

registry_pid=
hosts_dir=
stop_registry() {
  [[ -z $registry_pid ]] || kill "$registry_pid" 2>/dev/null || true
  [[ -z $hosts_dir ]] || rm -rf "$hosts_dir"
}
CLEANUP_HOOKS+=("d rmi -f $KIT" "d logout $REGISTRY" "stop_registry")

start_registry() {
  if [[ -n ${PRIVATE_REGISTRY_ADDR:-} ]]; then
    push_image
    return
  fi
  mkdir -p "$WORK/registry/data"
  htpasswd -Bbn "$USER_NAME" "$PASSWORD" >"$WORK/registry/htpasswd"
  cat >"$WORK/registry/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/registry/data}}
auth: {htpasswd: {realm: podshim-compat, path: $WORK/registry/htpasswd}}
http: {addr: $REGISTRY}
EOF
  docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://$REGISTRY/v2/" && break
    sleep 0.05
  done
  # Another registry answering on the port would hide that ours did not start.
  kill -0 "$registry_pid" 2>/dev/null || { echo "docker-registry did not start on $REGISTRY:" >&2; cat "$WORK/registry/log" >&2; return 1; }
  if [[ -n ${CERTS_D:-} ]]; then
    hosts_dir=$CERTS_D/$REGISTRY
    mkdir -p "$hosts_dir"
    printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$REGISTRY" "$REGISTRY" \
      >"$hosts_dir/hosts.toml"
  fi
  push_image
}

# Builds the image from SOURCE_IMAGE's layers and pushes it to the registry as KIT.
push_image() {
  skopeo copy -q --src-tls-verify=false "docker://$SOURCE_IMAGE" "oci:$WORK/src" >/dev/null
  python3 "$HERE/derive_image.py" "$WORK/src" "$WORK/kit" '{
    "Entrypoint": ["/bin/sh", "-c", "echo \"entry user=$(id -u) pwd=$(pwd) greeting=$GREETING args=$*\"", "kit"],
    "Cmd": ["one", "two"],
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"],
    "WorkingDir": "/tmp", "User": "65534", "Labels": {"org.example.kit": "yes"},
    "ExposedPorts": {"8080/tcp": {}}, "Volumes": {"/data": {}}, "StopSignal": "SIGTERM"}'
  skopeo copy -q --dest-tls-verify=false --dest-creds "$USER_NAME:$PASSWORD" "oci:$WORK/kit" "docker://$KIT" >/dev/null
}

check_without_credentials() {
  d logout "$REGISTRY" >/dev/null 2>&1 || true
  run_rc d run --rm --label "$LABEL" "$KIT" >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 125 "$RC"
  expect_contains "stderr" \
    "Error response from daemon: Head \"http://$REGISTRY/v2/private/kit/manifests/$RUN_ID\": no basic auth credentials" \
    "$(cat "$WORK/err")"
}

check_wrong_password() {
  run_rc d login -u "$USER_NAME" --password-stdin "$REGISTRY" <<<"wrong" >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 1 "$RC"
  expect_contains "stderr" "login attempt to http://$REGISTRY/v2/ failed with status: 401 Unauthorized" "$(cat "$WORK/err")"
}

check_login_and_run() {
  d login -u "$USER_NAME" --password-stdin "$REGISTRY" <<<"$PASSWORD" >"$WORK/out" 2>/dev/null
  expect_contains "login" "Login Succeeded" "$(cat "$WORK/out")"
  local name
  name=$(cname run)
  if [[ ${RUNS_IMAGE_CONFIG:-0} == 1 ]]; then
    run_rc d run --label "$LABEL" --name "$name" "$KIT" >"$WORK/out" 2>"$WORK/err"
    expect_eq "exit code" 0 "$RC"
    expect_eq "output (the image's entrypoint, cmd, env, user, working dir)" \
      "entry user=65534 pwd=/tmp greeting=hello args=one two" "$(cat "$WORK/out")"
    run_rc d run --rm --label "$LABEL" -e GREETING=bye -u 0 -w / "$KIT" x >"$WORK/out" 2>"$WORK/err"
    expect_eq "output with -e -u -w and a command" "entry user=0 pwd=/ greeting=bye args=x" "$(cat "$WORK/out")"
  else
    # A node that does not run images: the container only has to start from the private image.
    d run -d --label "$LABEL" --name "$name" "$KIT" sleep 300 >/dev/null
  fi
  if [[ -n ${PODSHIM_KUBECONFIG:-} ]]; then
    # Reading Secrets needs more than podshim's Role (create and patch): ADMIN_KUBECONFIG when podshim runs with it.
    local ns=(--kubeconfig "${ADMIN_KUBECONFIG:-$PODSHIM_KUBECONFIG}")
    [[ -z ${PODSHIM_NAMESPACE:-} ]] || ns+=(-n "$PODSHIM_NAMESPACE")
    local id secret
    id=$(d inspect -f '{{.Id}}' "$name")
    secret=$("$KUBECTL" "${ns[@]}" get pod -l podshim.io/managed=true -o \
      jsonpath="{range .items[?(@.metadata.annotations.podshim\.io/id==\"$id\")]}{.spec.imagePullSecrets[0].name}{end}")
    [[ $secret == podshim-pull-* ]] || fail_because "the pod lists no pull Secret (got '$secret')"
    "$KUBECTL" "${ns[@]}" get secret,cm,pod -o yaml >"$WORK/all.yaml"
    if grep -q -- "$PASSWORD" "$WORK/all.yaml"; then fail_because "the password is in plain text in kubectl get -o yaml"; fi
    # Base64 of the password (at any of the three offsets) appears only in the pull Secret's data.
    local hits
    hits=$("$KUBECTL" "${ns[@]}" get secret "$secret" -o jsonpath='{.data.\.dockerconfigjson}' | base64 -d)
    [[ $hits == *"$PASSWORD"* ]] || fail_because "the pull Secret does not hold the credentials"
    local others
    others=$("$KUBECTL" "${ns[@]}" get cm,pod -o yaml; "$KUBECTL" "${ns[@]}" get secret -o yaml | grep -v dockerconfigjson)
    if grep -q -- "$(printf '%s' "$PASSWORD" | base64 | cut -c1-12)" <<<"$others"; then
      fail_because "the encoded password is outside the pull Secret's data"
    fi
  fi
  d rm -f "$name" >/dev/null
}

check_merged_config() {
  local id
  id=$(d create --label "$LABEL" "$KIT")
  expect_eq "User" "65534" "$(d inspect -f '{{.Config.User}}' "$id")"
  expect_eq "Env" '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","GREETING=hello"]' \
    "$(d inspect -f '{{json .Config.Env}}' "$id")"
  expect_eq "Cmd" '["one","two"]' "$(d inspect -f '{{json .Config.Cmd}}' "$id")"
  expect_eq "WorkingDir" "/tmp" "$(d inspect -f '{{.Config.WorkingDir}}' "$id")"
  expect_eq "ExposedPorts, Volumes, Labels, StopSignal" '{"8080/tcp":{}} {"/data":{}} {"org.example.kit":"yes"} SIGTERM' \
    "$(d inspect -f '{{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{json .Config.Labels}} {{.Config.StopSignal}}' "$id" \
      | sed 's/,"podshim-compat-run":"[^"]*"//; s/"podshim-compat-run":"[^"]*",//')"
  expect_eq "Path" "/bin/sh" "$(d inspect -f '{{.Path}}' "$id")"
  d rm "$id" >/dev/null
  id=$(d create --label "$LABEL" -e GREETING=bye -e X=1 -u 0 -w / --entrypoint /bin/echo "$KIT")
  # The container's variables, then the image's it does not set. The docker CLI sends its -e variables in no
  # fixed order (Docker 20.10 shows X=1 first in some runs too): those two are compared sorted.
  expect_eq "Env with -e" 'GREETING=bye X=1 | PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$(d inspect -f '{{json .Config.Env}}' "$id" |
      python3 -c 'import json, sys; e = json.load(sys.stdin); print(*sorted(e[:2]), "|", *e[2:])')"
  expect_eq "an Entrypoint resets the image's Cmd" 'null ["/bin/echo"]' \
    "$(d inspect -f '{{json .Config.Cmd}} {{json .Config.Entrypoint}}' "$id")"
  d rm "$id" >/dev/null
  run_rc d create --label "$LABEL" --entrypoint "" "$KIT" >"$WORK/out" 2>"$WORK/err"
  expect_contains "--entrypoint '' without a command" "No command specified" "$(cat "$WORK/err")"
}

require_endpoint
start_registry

check without-credentials check_without_credentials
check wrong-password-401 check_wrong_password
check login-run-and-secret check_login_and_run
check merged-config check_merged_config

summarize
