#!/usr/bin/env bash
# docker CLI compatibility checks: the container lifecycle through the real docker CLI.
#
#   DOCKER_HOST=unix:///path/to/docker.sock [PODSHIM_KUBECONFIG=...] bash compat-tests/cli/run.sh
#
# Every check encodes what a real Docker Engine answers (validated against Docker 20.10 with a busybox image
# tagged alpine), so the same script runs against Docker and against podshim. Output: one `ok - NAME` /
# `not ok - NAME: WHY` line per check, then `N passed, M failed[, K skipped]`; the exit status is non-zero
# when a check failed.
#
# Environment:
#   DOCKER_HOST          the endpoint under test (required)
#   DOCKER               docker CLI binary (default: docker)
#   IMAGE                image with busybox sh/seq/sleep (default: alpine)
#   PODSHIM_KUBECONFIG   set when the endpoint is podshim: additionally check with kubectl that containers
#                        removed through Docker leave no pod and no record (ConfigMap) behind
#   PODSHIM_NAMESPACE    namespace podshim uses (default: the kubeconfig's)
#   KUBECTL              kubectl binary (default /usr/bin/kubectl)
#   CLI_CONCURRENCY      number of concurrent `docker run --rm` (default 50)
#   MERGED_LOG_STREAMS   1 when the endpoint's logs cannot tell stdout from stderr (podshim with --split-log-streams
#                        false, on a Kubernetes without split log streams): the stdout/stderr checks of `docker logs`
#                        then only require every line exactly once across both streams (nothing lost, nothing
#                        duplicated). An attached `docker run` keeps them apart everywhere (docs/streams.md).
#   SKIP_LIST, SKIP_LIST_VERIFY, CHECKS_ONLY   see compat-tests/checks.sh (suite name: cli)
#
# Needs bash, coreutils `timeout`, md5sum, curl. Against the Docker reference, run it in its network namespace
# (docker-reference/nsrun.sh), where its published ports listen.
set -euo pipefail

PREFIX=cli
SUITE=cli
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CONCURRENCY=${CLI_CONCURRENCY:-50}

# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------

# Names (the podshim.io/name annotation) of podshim's pods and records, one per line.
podshim_objects() {
  k get pods,configmaps -l podshim.io/managed=true \
    -o jsonpath='{range .items[*]}{.kind}/{.metadata.annotations.podshim\.io/name}{"\n"}{end}'
}

# With PODSHIM_KUBECONFIG: waits (at most SECONDS) until no pod or record of the named containers is left.
expect_no_pod_left() { # SECONDS NAME...
  [[ -n ${PODSHIM_KUBECONFIG:-} ]] || return 0
  local deadline=$((SECONDS + $1)) left name
  shift
  : >"$WORK/wanted"
  for name in "$@"; do printf 'Pod/%s\nPod//%s\nConfigMap/%s\nConfigMap//%s\n' "$name" "$name" "$name" "$name"; done \
    >"$WORK/wanted"
  while :; do
    left=$(podshim_objects | grep -F -x -f "$WORK/wanted" || true)
    [[ -z $left ]] && return 0
    ((SECONDS < deadline)) || break
    sleep 0.2
  done
  fail_because "still in the cluster after the container was removed: $(show "$left")"
}

# Starts a detached container NAME running COMMAND with sh -c; prints nothing.
run_detached() { # NAME COMMAND
  d run -d --label "$LABEL" --name "$1" "$IMAGE" sh -c "$2" >/dev/null
}

# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------

check_run_rm_streams_exit_code() {
  local name
  name=$(cname rm-streams)
  run_rc d run --rm --label "$LABEL" --name "$name" "$IMAGE" sh -c 'echo out; echo err >&2; exit 3' \
    >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 3 "$RC"
  expect_file "docker run: stdout" $'out\n' "$WORK/out"
  expect_file "docker run: stderr" $'err\n' "$WORK/err"
  expect_no_pod_left 10 "$name"
}

# The code runners' pattern, many times over: the result on stdout, the diagnostics on stderr, exactly.
check_run_rm_streams_apart_20_times() {
  local i bad=
  for ((i = 1; i <= 20; i++)); do
    run_rc d run --rm --label "$LABEL" "$IMAGE" sh -c 'echo out; echo err >&2; exit 3' >"$WORK/out" 2>"$WORK/err"
    if [[ $RC != 3 ]] || ! printf 'out\n' | cmp -s - "$WORK/out" || ! printf 'err\n' | cmp -s - "$WORK/err"; then
      bad+=" #$i(exit $RC, out '$(show "$(cat "$WORK/out")")', err '$(show "$(cat "$WORK/err")")')"
    fi
  done
  [[ -z $bad ]] || fail_because "runs with the wrong result:$bad"
}

# A program that writes at once (before any attach could have been connected to a started container).
check_run_rm_first_line_at_start() {
  run_rc d run --rm --label "$LABEL" "$IMAGE" sh -c 'echo first-err >&2; echo first-out' >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 0 "$RC"
  expect_file "stdout" $'first-out\n' "$WORK/out"
  expect_file "stderr" $'first-err\n' "$WORK/err"
}

# Both streams busy at once: each complete, each apart.
check_run_rm_seq_20000_both_streams() {
  local expected
  d run --rm --label "$LABEL" "$IMAGE" sh -c 'seq 1 20000 & seq 1 20000 >&2; wait' >"$WORK/out" 2>"$WORK/err"
  expected=$(seq 1 20000 | md5sum)
  expect_eq "stdout: md5 against seq 1 20000 ($(wc -l <"$WORK/out") lines)" "$expected" "$(md5sum <"$WORK/out")"
  expect_eq "stderr: md5 against seq 1 20000 ($(wc -l <"$WORK/err") lines)" "$expected" "$(md5sum <"$WORK/err")"
}

# docker stop reaches the attached run's own program (PID 1 after the start handshake's exec), which handles it.
check_run_attached_stop_sigterm() {
  local name deadline
  name=$(cname run-stop)
  (
    set +e
    d run --rm --label "$LABEL" --name "$name" "$IMAGE" \
      sh -c 'trap "echo got-term; exit 143" TERM; echo ready; while :; do sleep 0.1; done' >"$WORK/out" 2>"$WORK/err"
    echo $? >"$WORK/rc"
  ) &
  deadline=$((SECONDS + 60))
  until grep -q ready "$WORK/out" 2>/dev/null; do
    ((SECONDS < deadline)) || fail_because "the attached run never printed ready"
    sleep 0.2
  done
  expect_eq "docker stop output" "$name" "$(d stop -t 30 "$name")"
  wait
  expect_eq "exit code of docker run" 143 "$(cat "$WORK/rc")"
  expect_file "stdout of docker run" $'ready\ngot-term\n' "$WORK/out"
}

# Both streams to one file keep the order the lines were written in, as with Docker.
check_run_streams_in_order() {
  local script='echo a; sleep 0.05; echo b; sleep 0.05; echo c >&2; sleep 0.05; echo d; sleep 0.05; echo e >&2'
  d run --rm --label "$LABEL" "$IMAGE" sh -c "$script" >"$WORK/out" 2>&1
  expect_file "stdout and stderr together" $'a\nb\nc\nd\ne\n' "$WORK/out"
}

check_run_rm_seq_20000() {
  local name expected
  name=$(cname seq)
  d run --rm --label "$LABEL" --name "$name" "$IMAGE" seq 1 20000 >"$WORK/out"
  expected=$(seq 1 20000 | md5sum)
  expect_eq "lines" 20000 "$(wc -l <"$WORK/out")"
  expect_eq "md5 of the output against seq 1 20000" "$expected" "$(md5sum <"$WORK/out")"
  expect_no_pod_left 10 "$name"
}

check_detached_logs_wait_ps_inspect() {
  local name status finished
  name=$(cname w)
  run_detached "$name" 'echo hello; sleep 1; echo bye >&2; exit 5'
  d logs -f "$name" >"$WORK/out" 2>"$WORK/err"
  expect_streams "logs -f" "$WORK/out" "$WORK/err" $'hello\n' $'bye\n'
  expect_eq "docker wait" 5 "$(d wait "$name")"
  status=$(d ps -a --filter "name=^$name\$" --format '{{.Names}} {{.Status}}')
  expect_contains "docker ps -a" "$name Exited (5) " "$status"
  expect_eq "inspect State.Status State.ExitCode State.Running" "exited 5 false" \
    "$(d inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}' "$name")"
  finished=$(d inspect -f '{{.State.FinishedAt}}' "$name")
  [[ $finished == 20* && $finished != 0001-* ]] || fail_because "State.FinishedAt is not a time: '$finished'"
  expect_eq "inspect Name" "/$name" "$(d inspect -f '{{.Name}}' "$name")"
  d logs "$name" >"$WORK/out" 2>"$WORK/err"
  expect_streams "logs" "$WORK/out" "$WORK/err" $'hello\n' $'bye\n'
  d rm "$name" >/dev/null
  expect_no_pod_left 10 "$name"
}

# busybox `sleep` as PID 1 has no SIGTERM handler, so the kernel ignores SIGTERM and the container is killed after
# the grace period (137).
check_stop_sleep_is_killed() {
  local name code=137
  name=$(cname stop-sleep)
  d run -d --label "$LABEL" --name "$name" "$IMAGE" sleep 300 >/dev/null
  expect_eq "docker stop output" "$name" "$(d stop -t 1 "$name")"
  expect_eq "exit code after stop" "$code" "$(d wait "$name")"
  expect_contains "docker ps -a" "Exited ($code) " "$(d ps -a --filter "name=^$name\$" --format '{{.Status}}')"
}

# A process that handles SIGTERM gets it first and exits on its own.
check_stop_sends_sigterm() {
  local name
  name=$(cname stop-term)
  run_detached "$name" 'trap "echo got-term; exit 143" TERM; echo ready; while :; do sleep 0.1; done'
  local deadline=$((SECONDS + 30))
  until [[ $(d logs "$name" 2>&1) == *ready* ]]; do
    ((SECONDS < deadline)) || fail_because "container never printed ready"
    sleep 0.2
  done
  expect_eq "docker stop output" "$name" "$(d stop -t 30 "$name")"
  expect_eq "exit code after stop" 143 "$(d wait "$name")"
  expect_eq "logs" $'ready\ngot-term' "$(d logs "$name")"
}

check_kill() {
  local name
  name=$(cname kill)
  d run -d --label "$LABEL" --name "$name" "$IMAGE" sleep 300 >/dev/null
  expect_eq "docker kill output" "$name" "$(d kill "$name")"
  expect_eq "exit code after kill" 137 "$(d wait "$name")"
  expect_eq "inspect State.Status" exited "$(d inspect -f '{{.State.Status}}' "$name")"
}

check_rm_force_running() {
  local name id err
  name=$(cname rm-f)
  id=$(d run -d --label "$LABEL" --name "$name" "$IMAGE" sleep 300)
  run_rc d rm "$name" >"$WORK/out" 2>"$WORK/err"
  err=$(cat "$WORK/err")
  expect_eq "rm without force: exit code" 1 "$RC"
  # The sentence changed between Docker versions (20.10: "You cannot remove a running container ID. ...";
  # 28: "cannot remove container \"/NAME\": container is running: ..."): only its prefix and subject are checked.
  expect_contains "rm without force: stderr" "Error response from daemon: " "$err"
  [[ $err == *"$id"* || $err == *"/$name"* ]] || fail_because "rm without force: stderr names neither id nor name: '$err'"
  expect_eq "docker rm -f output" "$name" "$(d rm -f "$name")"
  expect_eq "docker ps -a after rm -f" "" "$(d ps -aq --filter "name=^$name\$")"
  expect_no_pod_left 15 "$name"
}

check_name_conflict() {
  local name id
  name=$(cname conflict)
  id=$(d create --label "$LABEL" --name "$name" "$IMAGE" true)
  run_rc d run --label "$LABEL" --name "$name" "$IMAGE" true >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 125 "$RC"
  expect_contains stderr "Error response from daemon: Conflict. The container name \"/$name\" is already in use by container \"$id\". You have to remove (or rename) that container to be able to reuse that name." "$(cat "$WORK/err")"
  expect_file stdout "" "$WORK/out"
}

check_unknown_container() {
  local name cmd
  name=$(cname nosuch)
  for cmd in logs rm wait stop start; do
    run_rc d "$cmd" "$name" >"$WORK/out" 2>"$WORK/err"
    expect_eq "docker $cmd: exit code" 1 "$RC"
    expect_contains "docker $cmd: stderr" "Error response from daemon: No such container: $name" "$(cat "$WORK/err")"
  done
}

# The pull of an image the registry cannot give fails before anything runs, naming the image.
check_unpullable_image() {
  local name image=invalid.registry.test/nosuch:1
  name=$(cname nopull)
  DTIMEOUT=200 run_rc d run --rm --label "$LABEL" --name "$name" "$image" true >"$WORK/out" 2>"$WORK/err"
  ((RC != 0)) || fail_because "docker run of $image exited 0"
  ((RC != 124)) || fail_because "docker run of $image timed out"
  expect_contains stderr "$image" "$(cat "$WORK/err")"
  expect_no_pod_left 15 "$name"
}

# Each run may take up to CONCURRENT_TIMEOUT seconds (default 180): all of them start at once, so each lasts about
# as long as the whole batch, and a node whose kubelet reports pod status at its default rate (kubeAPIQPS 5 before
# Kubernetes 1.27) takes its time: on the 2-core real node, the last of 50 runs ended after 48 to 60 s (50 bare pods
# created with kubectl: 32 s until all had completed). A run that hangs still fails.
check_concurrent_runs() {
  local i pids=() name names=() rc bad= DTIMEOUT=${CONCURRENT_TIMEOUT:-180}
  for ((i = 0; i < CONCURRENCY; i++)); do
    name=$(cname "conc$i")
    names+=("$name")
    (
      # The runs exit non-zero on purpose: neither errexit nor the check's ERR trap (which would record an
      # expected exit as the check's failure reason and hide the real one).
      set +e
      trap - ERR
      d run --rm --label "$LABEL" --label "$LABEL-conc" --name "$name" -e "I=$i" "$IMAGE" \
        sh -c 'echo $I; exit $((I % 7))' >"$WORK/conc$i.out" 2>"$WORK/conc$i.err"
      echo $? >"$WORK/conc$i.rc"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  for ((i = 0; i < CONCURRENCY; i++)); do
    rc=$(cat "$WORK/conc$i.rc")
    if [[ $rc != $((i % 7)) ]] || ! printf '%s\n' "$i" | cmp -s - "$WORK/conc$i.out"; then
      bad+=" #$i(exit $rc, out '$(show "$(cat "$WORK/conc$i.out")")', err '$(show "$(head -c 200 "$WORK/conc$i.err")")')"
    fi
  done
  [[ -z $bad ]] || fail_because "wrong results:$bad"
  expect_eq "containers left (docker ps -aq)" "" "$(d ps -aq --filter "label=$LABEL-conc")"
  expect_no_pod_left 20 "${names[@]}"
}

# Fetches http://127.0.0.1:PORT/ with curl, retrying for a while (the server takes a moment to listen).
fetch() { # PORT
  local deadline=$((SECONDS + 30)) out
  until out=$(curl -sf -m 5 "http://127.0.0.1:$1/"); do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
  printf '%s' "$out"
}

# Serves TEXT at / on port 8000: busybox httpd where the image has it, else Python's (the simulated cluster runs
# this machine's binaries). A directory of this run's own: without isolation the container writes on this machine.
serve_command() { # TEXT
  local www=/tmp/$RUN_ID-www-$RANDOM
  echo "mkdir -p $www && echo $1 > $www/index.html && if command -v httpd >/dev/null; then exec httpd -f -p 8000 -h $www; else exec python3 -m http.server 8000 --directory $www; fi"
}

check_publish_port() {
  local name port ports
  name=$(cname publish)
  d run -d --label "$LABEL" --name "$name" -p 127.0.0.1::8000 "$IMAGE" sh -c "$(serve_command published)" >/dev/null
  ports=$(d port "$name" 8000)
  port=${ports##*:}
  expect_eq "docker port" "127.0.0.1:$port" "$ports"
  expect_eq "fetched through the published port" published "$(fetch "$port")"
  expect_eq "docker ps PORTS" "127.0.0.1:$port->8000/tcp" "$(d ps --filter "name=^$name\$" --format '{{.Ports}}')"
  run_rc d run -d --label "$LABEL" --name "$name-2" -p "127.0.0.1:$port:80" "$IMAGE" sleep 60
  expect_eq "exit code for a port already published" 125 "$RC"
  d stop -t 1 "$name" >/dev/null
  run_rc curl -sf -m 5 "http://127.0.0.1:$port/"
  ((RC != 0)) || fail_because "port $port still answers after docker stop"
  expect_eq "docker port after stop" "" "$(d port "$name")"
}

# ---------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------

require_endpoint

check run-rm-stdout-stderr-exit-code check_run_rm_streams_exit_code
check run-rm-stdout-stderr-apart-20-times check_run_rm_streams_apart_20_times
check run-rm-first-line-at-start check_run_rm_first_line_at_start
check run-rm-seq-20000-both-streams check_run_rm_seq_20000_both_streams
check run-attached-stop-sigterm-143 check_run_attached_stop_sigterm
check run-streams-in-order check_run_streams_in_order
check run-rm-seq-20000 check_run_rm_seq_20000
check detached-logs-wait-ps-inspect check_detached_logs_wait_ps_inspect
check stop-sleep-killed-137 check_stop_sleep_is_killed
check stop-sends-sigterm-143 check_stop_sends_sigterm
check kill-137 check_kill
check rm-force-running check_rm_force_running
check name-conflict-125 check_name_conflict
check unknown-container check_unknown_container
check unpullable-image check_unpullable_image
check "concurrent-run-rm-$CONCURRENCY" check_concurrent_runs
check publish-port-fetch-stop check_publish_port

summarize
