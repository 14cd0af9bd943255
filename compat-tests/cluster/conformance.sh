#!/usr/bin/env bash
# Cluster conformance checks with real clients (kubectl 1.32, curl through `kubectl proxy`).
#
#   KUBECONFIG=... bash compat-tests/cluster/conformance.sh
#
# The expected answers are those of a real kube-apiserver (v1.20.2 with the realk8s fake kubelet, see
# shared/realk8s): the simulated cluster must give the same ones. Every check runs in its own namespace,
# which is deleted on exit. Output: one `ok - NAME` / `not ok - NAME: WHY` line per check, then
# `N passed, M failed[, K skipped]`; the exit status is non-zero when a check failed.
#
# Environment:
#   KUBECTL                  kubectl binary (default /usr/bin/kubectl)
#   CONFORMANCE_SPLIT_LOGS   1: check `pods/log?stream=Stdout|Stderr`; 0: skip it; unset: only on servers >= 1.32
#   CONFORMANCE_REQUIRE_410  1: a watch from resourceVersion=1 must be answered with 410 Expired (no skip)
#   CONFORMANCE_IMAGES       1: the node pulls images (a real node, the simulated one), so the image pull and
#                            image config checks run; 0 or unset: they are skipped (realk8s' fake kubelet)
#
# Needs bash, curl, jq and coreutils `timeout`.
set -euo pipefail

KUBECTL=${KUBECTL:-/usr/bin/kubectl}
NS="conformance-$(date +%s)-$$"
SUITE=conformance
WORK=$(mktemp -d)
# shellcheck source=../checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"
PROXY_PID=
PROXY=

# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------

cleanup() {
  local rc=$?
  if [[ -n $PROXY_PID ]]; then kill "$PROXY_PID" 2>/dev/null || true; fi
  timeout 20 "$KUBECTL" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

# kubectl in the test namespace, never blocking longer than $KTIMEOUT seconds.
k() { timeout "${KTIMEOUT:-30}" "$KUBECTL" -n "$NS" "$@"; }

# Waits until pod NAME's phase is one of PHASES (space-separated), at most SECONDS.
wait_for_phase() { # NAME "PHASES" [SECONDS]
  local name=$1 phases=" $2 " deadline=$((SECONDS + ${3:-30})) phase=
  while ((SECONDS < deadline)); do
    phase=$(k get pod "$name" -o jsonpath='{.status.phase}' 2>/dev/null || true)
    [[ -n $phase && $phases == *" $phase "* ]] && return 0
    sleep 0.2
  done
  fail_because "pod $name: phase '$phase' after ${3:-30}s, waited for one of:$phases"
}

# Waits until pod NAME no longer exists, at most SECONDS.
wait_for_gone() { # NAME [SECONDS]
  local deadline=$((SECONDS + ${2:-10})) err
  while ((SECONDS < deadline)); do
    if ! err=$(k get pod "$1" -o name 2>&1); then
      expect_eq "get pod $1 after deletion" "Error from server (NotFound): pods \"$1\" not found" "$err"
      return
    fi
    sleep 0.2
  done
  fail_because "pod $1 still exists after ${2:-10}s"
}

# Creates a pod that runs COMMAND with `sh -c` (restartPolicy Never).
run_pod() { # NAME COMMAND
  k run "$1" --restart=Never --image=alpine -- sh -c "$2" >/dev/null
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# Raw HTTP through `kubectl proxy`; prints the body and leaves the status code in $WORK/http_code.
http() { # METHOD PATH [JSON BODY]
  local args=(-sS -m 15 -o "$WORK/body" -w '%{http_code}' -X "$1" "$PROXY$2")
  [[ $# -lt 3 ]] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
  curl "${args[@]}" >"$WORK/http_code"
  cat "$WORK/body"
}

start_proxy() {
  "$KUBECTL" proxy --port=0 >"$WORK/proxy.out" 2>&1 &
  PROXY_PID=$!
  local deadline=$((SECONDS + 15)) port=
  while ((SECONDS < deadline)); do
    port=$(sed -n 's/^Starting to serve on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/proxy.out")
    if [[ -n $port ]]; then
      PROXY="http://127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  echo "kubectl proxy did not start: $(cat "$WORK/proxy.out")" >&2
  exit 2
}

# Minor version of the server (`32+` -> 32).
server_minor() {
  timeout 15 "$KUBECTL" version -o json 2>/dev/null | jq -r '.serverVersion.minor' | tr -dc '0-9'
}

# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------

# The pause between the two writes: stdout and stderr reach the node through separate pipes, so a real
# kubelet (and the realk8s one) may log back-to-back writes to the two streams in either order.
check_run_exit_code() {
  run_pod t1 'echo out; sleep 0.2; echo err >&2; exit 3'
  wait_for_phase t1 "Succeeded Failed"
  local state
  state=$(k get pod t1 -o json | jq -c '[.status.phase, .status.containerStatuses[0].state.terminated.exitCode,
    .status.containerStatuses[0].state.terminated.reason]')
  expect_eq "phase, exitCode, reason" '["Failed",3,"Error"]' "$state"
}

# stdout and stderr are merged in order (after check_run_exit_code).
check_logs_merged() {
  k logs t1 >"$WORK/logs"
  expect_file "kubectl logs t1" $'out\nerr\n' "$WORK/logs"
}

# `stream=Stdout|Stderr` (KEP 3288, Kubernetes 1.32). Older servers ignore the parameter and return both streams.
check_logs_split_streams() {
  local minor
  case ${CONFORMANCE_SPLIT_LOGS:-} in
    0) skip_because "CONFORMANCE_SPLIT_LOGS=0" ;;
    1) ;;
    *)
      minor=$(server_minor)
      ((minor >= 32)) || skip_because "server v1.$minor has no split log streams"
      ;;
  esac
  k get --raw "/api/v1/namespaces/$NS/pods/t1/log?stream=Stdout" >"$WORK/stdout"
  k get --raw "/api/v1/namespaces/$NS/pods/t1/log?stream=Stderr" >"$WORK/stderr"
  expect_file "log stream=Stdout" $'out\n' "$WORK/stdout"
  expect_file "log stream=Stderr" $'err\n' "$WORK/stderr"
}

check_logs_follow_ends() {
  run_pod f1 'for i in 1 2 3; do echo $i; sleep 1; done'
  wait_for_phase f1 Running
  local rc=0
  timeout 30 "$KUBECTL" -n "$NS" logs -f f1 >"$WORK/follow" || rc=$?
  expect_eq "kubectl logs -f exit status" 0 "$rc"
  expect_file "kubectl logs -f f1" $'1\n2\n3\n' "$WORK/follow"
}

check_exec_exit_code() {
  run_pod s1 'sleep 3600'
  wait_for_phase s1 Running
  local rc=0
  k exec s1 -- sh -c 'exit 7' >"$WORK/out" 2>"$WORK/err" || rc=$?
  expect_eq "kubectl exec exit status" 7 "$rc"
  expect_file "kubectl exec stderr" $'command terminated with exit code 7\n' "$WORK/err"
}

# Needs the running pod s1 (check_exec_exit_code).
check_exec_stdin() {
  echo hello | k exec -i s1 -- cat >"$WORK/out"
  expect_file "echo hello | kubectl exec -i s1 -- cat" $'hello\n' "$WORK/out"
}

check_exec_streams_apart() {
  k exec s1 -- sh -c 'echo o; echo e >&2' >"$WORK/out" 2>"$WORK/err"
  expect_file "exec stdout" $'o\n' "$WORK/out"
  expect_file "exec stderr" $'e\n' "$WORK/err"
}

# `kubectl run -i --rm` attaches, sends stdin, prints the output, then deletes the pod. kubectl 1.32 prints
# `pod "r1" deleted` on stdout and its "If you don't see a command prompt" hint on stderr.
check_run_attach_rm() {
  echo hi | KTIMEOUT=60 k run -i --rm --restart=Never --image=alpine r1 -- sh -c 'read x; echo got $x' \
    >"$WORK/out" 2>"$WORK/err"
  expect_file "kubectl run -i --rm stdout" $'got hi\npod "r1" deleted\n' "$WORK/out"
  wait_for_gone r1 10
}

# A watch started before the pod exists sees every phase change, in order. (`kubectl get pod w1 -w` cannot
# start before w1 exists: it fails with NotFound; a field selector lists nothing, then watches.)
check_watch_phases() {
  local pid deadline=$((SECONDS + 20)) phases
  timeout 25 "$KUBECTL" -n "$NS" get pods --field-selector metadata.name=w1 -w \
    -o jsonpath='{.status.phase}{"\n"}' >"$WORK/watch" 2>"$WORK/watch.err" &
  pid=$!
  sleep 1
  run_pod w1 'sleep 2'
  while ((SECONDS < deadline)) && ! grep -qx Succeeded "$WORK/watch"; do sleep 0.2; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  phases=$(uniq "$WORK/watch" | tr '\n' ' ')
  expect_eq "phases seen by kubectl get pods -w (repeats merged)" "Pending Running Succeeded " "$phases"
}

check_delete_grace_period() {
  local start elapsed
  start=$(now_ms)
  k delete pod s1 --grace-period=1 >"$WORK/out"
  elapsed=$(($(now_ms) - start))
  expect_file "kubectl delete output" $'pod "s1" deleted\n' "$WORK/out"
  ((elapsed < 6000)) || fail_because "kubectl delete --grace-period=1 took ${elapsed}ms"
  wait_for_gone s1 1
}

# Deletion sends SIGTERM: the trap's output reaches the followed log, and the pod goes away when the process
# exits, long before the grace period ends.
check_delete_sends_sigterm() {
  local pid start elapsed
  run_pod tt 'trap "echo term; exit 0" TERM; while true; do sleep 0.1; done'
  wait_for_phase tt Running
  timeout 30 "$KUBECTL" -n "$NS" logs -f tt >"$WORK/follow" 2>&1 &
  pid=$!
  sleep 1
  start=$(now_ms)
  k delete pod tt --grace-period=20 >/dev/null
  elapsed=$(($(now_ms) - start))
  wait "$pid" || fail_because "kubectl logs -f tt failed: $(cat "$WORK/follow")"
  grep -qx term "$WORK/follow" || fail_because "no 'term' in the log: '$(show "$(cat "$WORK/follow")")'"
  ((elapsed < 10000)) || fail_because "delete took ${elapsed}ms: the process did not end on SIGTERM"
  wait_for_gone tt 1
}

check_invalid_name() {
  local rc=0 body message
  k run Bad_Name --restart=Never --image=alpine -- true >"$WORK/out" 2>"$WORK/err" || rc=$?
  expect_eq "kubectl run Bad_Name exit status" 1 "$rc"
  expect_contains "kubectl run Bad_Name stderr" 'The Pod "Bad_Name" is invalid: ' "$(cat "$WORK/err")"
  body=$(http POST "/api/v1/namespaces/$NS/pods" \
    '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"Bad_Name"},"spec":{"containers":[{"name":"c","image":"alpine"}]}}')
  expect_eq "HTTP status" 422 "$(cat "$WORK/http_code")"
  message='Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '
  message+="'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
  message+="validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
  expect_eq "Status" "$(jq -cn --arg m "$message" '{kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure",
    message: ("Pod \"Bad_Name\" is invalid: metadata.name: " + $m), reason: "Invalid", details: {name: "Bad_Name",
    kind: "Pod", causes: [{reason: "FieldValueInvalid", message: $m, field: "metadata.name"}]}, code: 422}')" \
    "$(jq -c . <<<"$body")"
}

check_not_found() {
  local rc=0 body
  k get pod nosuch >"$WORK/out" 2>"$WORK/err" || rc=$?
  expect_eq "kubectl get pod nosuch exit status" 1 "$rc"
  expect_file "kubectl get pod nosuch stderr" $'Error from server (NotFound): pods "nosuch" not found\n' "$WORK/err"
  body=$(http GET "/api/v1/namespaces/$NS/pods/nosuch")
  expect_eq "HTTP status" 404 "$(cat "$WORK/http_code")"
  expect_eq "Status" '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"nosuch\" not found","reason":"NotFound","details":{"name":"nosuch","kind":"pods"},"code":404}' \
    "$(jq -c . <<<"$body")"
}

# A watch from a resourceVersion older than the server's history is answered with HTTP 200 and a single ERROR
# event holding a 410 Expired Status; the watch then ends. A real API server serves pod watches from its watch
# cache, whose history starts at the server's first LIST of pods (or at its oldest kept event once the cache has
# evicted some): on an API server that started with an empty etcd, resourceVersion=1 is still inside that window
# and the server replays every event instead. Then the check is skipped, unless CONFORMANCE_REQUIRE_410=1.
check_watch_too_old() {
  local body lines
  body=$(http GET "/api/v1/namespaces/$NS/pods?watch=1&resourceVersion=1&timeoutSeconds=5")
  expect_eq "HTTP status" 200 "$(cat "$WORK/http_code")"
  lines=$(jq -c . <<<"$body")
  if [[ ${CONFORMANCE_REQUIRE_410:-0} != 1 ]] && [[ -n $lines ]] &&
    jq -e -s 'all(.type == "ADDED" or .type == "MODIFIED" or .type == "DELETED")' <<<"$lines" >/dev/null; then
    skip_because "resourceVersion=1 is still in the server's watch window ($(wc -l <<<"$lines") events replayed)"
  fi
  expect_eq "number of watch events" 1 "$(grep -c . <<<"$lines" || true)"
  expect_eq "watch event" '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"Expired","code":410}}' \
    "$(jq -c 'del(.object.message)' <<<"$lines")"
  expect_contains "Status message" "too old resource version: 1 (" "$(jq -r .object.message <<<"$lines")"
}

check_env_from_configmap_secret() {
  k create configmap cm1 --from-literal=color=blue >/dev/null
  k create secret generic sec1 --from-literal=token=s3cr3t >/dev/null
  k apply -f - >/dev/null <<'EOF'
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "env1"},
 "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "alpine",
   "command": ["sh", "-c", "echo color=$COLOR token=$TOKEN"],
   "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cm1", "key": "color"}}},
           {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec1", "key": "token"}}}]}]}}
EOF
  wait_for_phase env1 "Succeeded Failed"
  expect_eq "phase" Succeeded "$(k get pod env1 -o jsonpath='{.status.phase}')"
  k logs env1 >"$WORK/logs"
  expect_file "kubectl logs env1" $'color=blue token=s3cr3t\n' "$WORK/logs"
}

need_image_pulls() {
  [[ ${CONFORMANCE_IMAGES:-0} == 1 ]] || skip_because "CONFORMANCE_IMAGES is not 1 (a kubelet that ignores images)"
}

# Without a command the container runs its image's Cmd (alpine: /bin/sh, which ends at once without
# stdin); the status names the pulled image and its repo digest.
check_image_config_runs() {
  need_image_pulls
  k run img1 --restart=Never --image=alpine >/dev/null
  wait_for_phase img1 "Succeeded Failed"
  local state
  state=$(k get pod img1 -o json | jq -c '[.status.phase, .status.containerStatuses[0].state.terminated.exitCode]')
  expect_eq "phase, exitCode" '["Succeeded",0]' "$state"
  expect_contains "imageID" "/library/alpine@sha256:" "$(k get pod img1 -o jsonpath='{.status.containerStatuses[0].imageID}')"
}

# An image the registry does not have: ErrImagePull with containerd's message, then ImagePullBackOff.
check_image_pull_fails() {
  need_image_pulls
  k run img2 --restart=Never --image=podshim-no-such-image:1 -- true >/dev/null
  local deadline=$((SECONDS + 30)) reason= message=
  while ((SECONDS < deadline)); do
    reason=$(k get pod img2 -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' 2>/dev/null || true)
    [[ $reason == ErrImagePull ]] && break
    sleep 0.2
  done
  expect_eq "waiting reason" ErrImagePull "$reason"
  message=$(k get pod img2 -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')
  expect_contains "message" 'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/podshim-no-such-image:1"' "$message"
  expect_contains "message" 'docker.io/library/podshim-no-such-image:1: not found' "$message"
}

# A command that does not exist in the container: StartError, exit code 128, runc's message.
check_missing_executable() {
  need_image_pulls
  k run img3 --restart=Never --image=alpine --command -- /podshim-no-such-program >/dev/null
  wait_for_phase img3 "Failed"
  local terminated
  terminated=$(k get pod img3 -o json | jq -c '.status.containerStatuses[0].state.terminated')
  expect_eq "reason, exitCode" '["StartError",128]' "$(jq -c '[.reason, .exitCode]' <<<"$terminated")"
  expect_contains "message" 'exec: "/podshim-no-such-program": stat /podshim-no-such-program: no such file or directory' \
    "$(jq -r .message <<<"$terminated")"
}

# ---------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------

for tool in curl jq timeout "$KUBECTL"; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
timeout 20 "$KUBECTL" create namespace "$NS" >/dev/null
# A real API server refuses pods until the controller manager has created the namespace's default
# ServiceAccount; a cluster that never creates one costs this loop at most 10 s.
sa_deadline=$((SECONDS + 10))
while ((SECONDS < sa_deadline)) && ! timeout 10 "$KUBECTL" -n "$NS" get serviceaccount default >/dev/null 2>&1; do
  sleep 0.2
done
start_proxy

check run-exit-code check_run_exit_code
check logs-merged check_logs_merged
check logs-split-streams check_logs_split_streams
check logs-follow-ends check_logs_follow_ends
check exec-exit-code check_exec_exit_code
check exec-stdin check_exec_stdin
check exec-stdout-stderr-apart check_exec_streams_apart
check run-attach-rm check_run_attach_rm
check watch-phases check_watch_phases
check delete-grace-period check_delete_grace_period
check delete-sends-sigterm check_delete_sends_sigterm
check invalid-name-422 check_invalid_name
check not-found-404 check_not_found
check watch-too-old-410 check_watch_too_old
check env-from-configmap-secret check_env_from_configmap_secret
check image-config-runs check_image_config_runs
check image-pull-fails check_image_pull_fails
check missing-executable-start-error check_missing_executable

summarize
