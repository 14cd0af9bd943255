#!/usr/bin/env bash
# docker CLI compatibility checks of bind mounts (`-v /host/dir:/dst[:ro]`, `--mount type=bind`): the code runner's
# `docker run --rm -v IN:/input:ro -v OUT:/output` (its input read, a write to it refused, its output in OUT right
# after `docker run` returns, nothing left behind), a bind of one file, inspect's `Mounts`, a missing `--mount`
# source, the Docker socket, and with BIND_MAP_PREFIX the same run onto a claim of podshim's `--bind-map`.
#
#   DOCKER_HOST=unix:///path/to/docker.sock [PODSHIM_KUBECONFIG=...] bash compat-tests/cli/binds.sh
#
# The checks encode Docker's answers, run against Docker 20.10 with the same commands (the client and the engine on
# one machine, as podshim and its caller are when it copies), where all of them pass but these, podshim's own:
#   docker-socket-refused    podshim refuses a bind of the Docker socket with its message; Docker mounts it
#   copy-over-limit          podshim copies binds up to --bind-copy-limit (default 1g); Docker mounts any size
#   bind-map-onto-claim      podshim's --bind-map (skipped without BIND_MAP_PREFIX)
#
# Environment:
#   DOCKER_HOST          the endpoint under test (required); the engine must run on this machine (it reads the paths)
#   DOCKER, IMAGE        as in cli/run.sh
#   PODSHIM_KUBECONFIG   set when the endpoint is podshim: also check with kubectl that a --rm run leaves no pod
#                        (PODSHIM_NAMESPACE, KUBECTL as in cli/run.sh)
#   BIND_MAP_PREFIX, BIND_MAP_CLAIM, BIND_MAP_NODE   podshim runs with --bind-map BIND_MAP_PREFIX=BIND_MAP_CLAIM/jobs
#                        and --node-name BIND_MAP_NODE: the check makes the claim (ReadWriteOnce) and a caller pod that
#                        mounts it at BIND_MAP_PREFIX (as the sidecar's pod would), runs a container binding two
#                        directories under the prefix, and reads the result in the caller at once; the container's
#                        pod is pinned to BIND_MAP_NODE (needs PODSHIM_KUBECONFIG)
#   SKIP_LIST, SKIP_LIST_VERIFY, CHECKS_ONLY   see compat-tests/checks.sh (suite name: cli-binds)
set -euo pipefail

PREFIX=bind
SUITE=cli-binds
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The pods (any state) whose podshim.io/name annotation is NAME, one name a line.
pods_named() { # NAME
  k get pods -o json | jq -r --arg n "$1" '.items[] | select(.metadata.annotations["podshim.io/name"] == $n) | .metadata.name'
}

check_code_runner() {
  local name in=$WORK/jobs/42/in out=$WORK/jobs/42/out left
  name=$(cname runner)
  mkdir -p "$in"
  printf 'input data\n' >"$in/data.txt"
  mkdir -p "$in/nested"
  printf 'deep\n' >"$in/nested/file.txt"
  # The output directory does not exist: `-v` makes it, as Docker does.
  run_rc d run --rm --label "$LABEL" --name "$name" -v "$in:/input:ro" -v "$out:/output" "$IMAGE" sh -c \
    'cat /input/data.txt /input/nested/file.txt; touch /input/x 2>/dev/null || echo "input is read-only" >&2
     mkdir -p /output/sub; echo result >/output/result.txt; echo more >/output/sub/more.txt; exit 3' \
    >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 3 "$RC"
  expect_streams "docker run" "$WORK/out" "$WORK/err" $'input data\ndeep\n' $'input is read-only\n'
  expect_file "output written in the container" $'result\n' "$out/result.txt"
  expect_file "output in a new directory" $'more\n' "$out/sub/more.txt"
  [[ ! -e $in/x ]] || fail_because "the read-only input got a file"
  expect_eq "containers left (docker ps -aq)" "" "$(d ps -aq --filter "name=^$name\$")"
  if [[ -n ${PODSHIM_KUBECONFIG:-} ]]; then
    left=$(pods_named "$name")
    expect_eq "pods left" "" "$left"
  fi
  # A second run sees what the first left, and its own writes replace the old ones.
  run_rc d run --rm --label "$LABEL" -v "$out:/output" "$IMAGE" sh -c 'cat /output/result.txt; echo second >/output/result.txt' \
    >"$WORK/out" 2>"$WORK/err"
  expect_eq "second run: exit code" 0 "$RC"
  expect_file "second run: stdout" $'result\n' "$WORK/out"
  expect_file "second run: output" $'second\n' "$out/result.txt"
}

check_file_bind() {
  printf 'key=value\n' >"$WORK/app.conf"
  run_rc d run --rm --label "$LABEL" -v "$WORK/app.conf:/etc/app.conf:ro" "$IMAGE" cat /etc/app.conf \
    >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 0 "$RC"
  expect_file "the file's content" $'key=value\n' "$WORK/out"
  # A writable one comes back.
  run_rc d run --rm --label "$LABEL" -v "$WORK/app.conf:/etc/app.conf" "$IMAGE" sh -c 'echo changed >/etc/app.conf' \
    >"$WORK/out" 2>"$WORK/err"
  expect_eq "writable file bind: exit code" 0 "$RC"
  expect_file "the file after the run" $'changed\n' "$WORK/app.conf"
}

# `docker stop`: what the program writes as it ends (its SIGTERM handler) comes back too.
check_stop_copies_back() {
  local name
  name=$(cname stop)
  mkdir -p "$WORK/stopped"
  d run -d --label "$LABEL" --name "$name" -v "$WORK/stopped:/out" "$IMAGE" sh -c \
    'echo started >/out/started; trap "echo stopped >/out/stopped; exit 0" TERM; while :; do sleep 0.2; done' >/dev/null
  local deadline=$((SECONDS + 60))
  until [[ $(d inspect -f '{{.State.Running}}' "$name") == true ]] || ((SECONDS > deadline)); do sleep 0.3; done
  sleep 1
  expect_eq "docker stop" "$name" "$(d stop "$name")"
  expect_eq "exit code" 0 "$(d inspect -f '{{.State.ExitCode}}' "$name")"
  expect_file "written at start" $'started\n' "$WORK/stopped/started"
  expect_file "written by the SIGTERM handler" $'stopped\n' "$WORK/stopped/stopped"
}

check_inspect_mounts() {
  local name mounts
  name=$(cname inspect)
  mkdir -p "$WORK/src"
  d create --label "$LABEL" --name "$name" -v "$WORK/src:/data:ro" --mount "type=bind,src=$WORK/src,dst=/m" "$IMAGE" true \
    >/dev/null
  mounts=$(d inspect -f '{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.Mode}} {{.RW}} {{.Propagation}};{{end}}' "$name")
  expect_contains "-v ...:ro" "bind $WORK/src /data ro false rprivate;" "$mounts"
  expect_contains "--mount type=bind" "bind $WORK/src /m  true rprivate;" "$mounts"
  expect_eq "HostConfig.Binds" "[$WORK/src:/data:ro]" "$(d inspect -f '{{.HostConfig.Binds}}' "$name")"
}

check_missing_mount_source() {
  run_rc d run --rm --label "$LABEL" --mount "type=bind,src=$WORK/nope,dst=/x" "$IMAGE" true >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 125 "$RC"
  expect_contains "stderr" "bind source path does not exist: $WORK/nope" "$(cat "$WORK/err")"
  [[ ! -e $WORK/nope ]] || fail_because "--mount made the missing source"
}

check_docker_socket_refused() {
  run_rc d run --rm --label "$LABEL" -v /var/run/docker.sock:/var/run/docker.sock "$IMAGE" true >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 125 "$RC"
  expect_contains "stderr" "Error response from daemon: Binds is not supported by podshim: /var/run/docker.sock" "$(cat "$WORK/err")"
  expect_contains "stderr" "DOCKER_HOST" "$(cat "$WORK/err")"
}

check_copy_over_limit() {
  local name
  name=$(cname big)
  mkdir -p "$WORK/big"
  # Sparse: 2 GiB of size, no disk.
  truncate -s 2G "$WORK/big/huge.bin"
  run_rc d run --rm --label "$LABEL" --name "$name" -v "$WORK/big:/big:ro" "$IMAGE" true >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 125 "$RC"
  expect_contains "stderr" "more than the copy limit of" "$(cat "$WORK/err")"
  expect_contains "stderr" "--bind-copy-limit" "$(cat "$WORK/err")"
  expect_eq "containers left (the start failed, --rm removes it)" "" "$(d ps -aq --filter "name=^$name\$")"
  if [[ -n ${PODSHIM_KUBECONFIG:-} ]]; then
    local deadline=$((SECONDS + 20)) left
    while left=$(pods_named "$name") && [[ -n $left ]] && ((SECONDS < deadline)); do sleep 0.3; done
    expect_eq "pods left" "" "$left"
  fi
}

# The sidecar deployment: the caller's directory BIND_MAP_PREFIX is the claim BIND_MAP_CLAIM's directory `jobs`.
check_bind_map() {
  [[ -n ${BIND_MAP_PREFIX:-} && -n ${PODSHIM_KUBECONFIG:-} ]] ||
    skip_because "needs BIND_MAP_PREFIX (podshim running with --bind-map) and PODSHIM_KUBECONFIG"
  local caller name pod job
  caller=$(echo "$RUN_ID-caller" | tr '[:upper:]' '[:lower:]')
  name=$(cname mapped)
  job=$BIND_MAP_PREFIX/$RUN_ID
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $BIND_MAP_CLAIM, labels: {podshim.io/test-provision: "true"}}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 64Mi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: $caller, labels: {$LABEL_KEY: "$RUN_ID"}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: caller, image: $IMAGE, command: [sleep, "600"], volumeMounts: [{name: work, mountPath: "$BIND_MAP_PREFIX", subPath: jobs}]}
  volumes: [{name: work, persistentVolumeClaim: {claimName: $BIND_MAP_CLAIM}}]
EOF
  CLEANUP_HOOKS+=("k delete pod $caller --wait=false")
  KTIMEOUT=130 k wait --for=condition=Ready "pod/$caller" --timeout=120s >/dev/null
  k exec "$caller" -- sh -c "mkdir -p $job/in && echo 'from the caller' >$job/in/data.txt"
  run_rc d run --label "$LABEL" --name "$name" -v "$job/in:/input:ro" -v "$job/out:/output" "$IMAGE" sh -c \
    'cat /input/data.txt; touch /input/x 2>/dev/null || echo "input is read-only" >&2; mkdir -p /output; echo result >/output/result.txt' \
    >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 0 "$RC"
  expect_streams "docker run" "$WORK/out" "$WORK/err" $'from the caller\n' $'input is read-only\n'
  expect_eq "the result, read in the caller's pod" "result" "$(k exec "$caller" -- cat "$job/out/result.txt")"
  pod=$(pods_named "$name" | head -1)
  expect_eq "the claim in the container's pod" "$BIND_MAP_CLAIM jobs/$RUN_ID/in" \
    "$(k get pod "$pod" -o jsonpath='{.spec.volumes[0].persistentVolumeClaim.claimName} {.spec.containers[0].volumeMounts[0].subPath}')"
  if [[ -n ${BIND_MAP_NODE:-} ]]; then
    expect_eq "pinned to podshim's node (ReadWriteOnce)" "$BIND_MAP_NODE $BIND_MAP_NODE" \
      "$(k get pod "$pod" -o jsonpath='{.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]} {.spec.nodeName}')"
  fi
  d rm -f "$name" >/dev/null
}

LABEL_KEY=${LABEL%%=*}
# The image first, so that no check sees the pull's progress on stderr.
d pull -q "$IMAGE" >/dev/null 2>&1 || true
check code-runner-by-copy check_code_runner
check file-bind check_file_bind
check stop-copies-back check_stop_copies_back
check inspect-mounts check_inspect_mounts
check missing-mount-source check_missing_mount_source
check docker-socket-refused check_docker_socket_refused
check copy-over-limit check_copy_over_limit
check bind-map-onto-claim check_bind_map
summarize
