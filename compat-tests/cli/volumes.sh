#!/usr/bin/env bash
# docker CLI compatibility checks of volumes: `docker volume create/ls/inspect/rm/prune`, named volumes shared by
# containers one after another (`-v`, `:ro`, `--mount ... volume-subpath=`), anonymous volumes (`-v /path`) across
# stop and start and their removal (`rm -v`, `--rm`), `--tmpfs`, `--volumes-from`,
# `docker cp` out of an exited container from its volume, and (with PODSHIM_RESTART) the data of volumes after
# podshim is SIGKILLed and started again.
#
#   DOCKER_HOST=unix:///path/to/docker.sock [PODSHIM_KUBECONFIG=...] bash compat-tests/cli/volumes.sh
#
# The checks encode Docker's answers, run against Docker 20.10 with the same CLI commands (the in-use message, the
# read-only error, /proc/mounts of a tmpfs, --volumes-from, anonymous volumes across stop/start and rm -v, --rm),
# where all of them pass but these, which are podshim's own or newer than 20.10's API 1.41:
#   volume-create-inspect   `-o size=` is a claim's request (Docker's local driver needs quotas: "quota size
#                           requested but no quota support")
#   mount-volume-subpath    volume-subpath= is API 1.45 (Docker 26); 20.10 ignores it and mounts the volume's root
#   volume-prune            `prune -f` removes only anonymous volumes from API 1.42 on (Docker 23); 20.10 all unused
#
# Environment:
#   DOCKER_HOST          the endpoint under test (required)
#   DOCKER, IMAGE        as in cli/run.sh
#   PODSHIM_KUBECONFIG   set when the endpoint is podshim: additionally check with kubectl that a removed volume leaves
#                        no PersistentVolumeClaim behind (PODSHIM_NAMESPACE, KUBECTL as in cli/run.sh)
#   PODSHIM_RESTART      a command (run with bash -c) that SIGKILLs the podshim serving DOCKER_HOST and starts it
#                        again on the same socket and cluster, returning once it answers (compat-tests/podshim-proc.sh
#                        restart DIR does; compat-tests/run.sh runs the check so); without it the check
#                        podshim-sigkill-restart-keeps-data is skipped, saying so
#   SKIP_LIST, SKIP_LIST_VERIFY, CHECKS_ONLY   see compat-tests/checks.sh (suite name: cli-volumes)
#
# Every volume this run makes is named or labelled after the run, and removed at the end. Needs bash, coreutils
# `timeout`, curl and jq (with PODSHIM_KUBECONFIG).
set -euo pipefail

PREFIX=vol
SUITE=cli-volumes
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The run's containers first (their volumes are in use until then), then every volume named after the run or
# labelled with it, and the anonymous volumes its containers made (collected in $WORK/anonymous).
cleanup_volumes() {
  local ids vols
  ids=$(timeout 20 "$DOCKER" ps -aq --filter "label=$LABEL" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [[ -z $ids ]] || timeout 60 "$DOCKER" rm -f -v $ids >/dev/null 2>&1 || true
  vols=$( (timeout 20 "$DOCKER" volume ls -q --filter "name=$RUN_ID"; timeout 20 "$DOCKER" volume ls -q --filter "label=$LABEL"
    cat "$WORK/anonymous" 2>/dev/null) | sort -u)
  # shellcheck disable=SC2086
  [[ -z $vols ]] || timeout 60 "$DOCKER" volume rm -f $vols >/dev/null 2>&1 || true
}
CLEANUP_HOOKS+=(cleanup_volumes)

# A volume name unique to this run and check.
vname() { echo "$RUN_ID-$1"; }

# With PODSHIM_KUBECONFIG: the claim of volume NAME is gone (waits at most 10 s: a claim a pod held a moment ago
# keeps its pvc-protection finalizer until the pod is gone).
expect_no_claim_left() { # NAME
  [[ -n ${PODSHIM_KUBECONFIG:-} ]] || return 0
  local deadline=$((SECONDS + 10)) left
  while :; do
    left=$(k get pvc -l podshim.io/volume=true \
      -o jsonpath='{range .items[*]}{.metadata.annotations.podshim\.io/volume-name}{"\n"}{end}' | grep -Fx -- "$1" || true)
    [[ -z $left ]] && return 0
    ((SECONDS < deadline)) || break
    sleep 0.3
  done
  fail_because "the claim of volume $1 is still in the cluster after docker volume rm"
}

# Waits (at most SECONDS) until `docker volume ls -q` no longer lists NAME.
wait_volume_gone() { # SECONDS NAME
  local deadline=$((SECONDS + $1))
  while d volume ls -q | grep -Fxq -- "$2"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
}

# The name of the (only) volume mounted at PATH in container C.
mounted_volume() { # C PATH
  d inspect -f "{{range .Mounts}}{{if eq .Destination \"$2\"}}{{.Name}}{{end}}{{end}}" "$1"
}

# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------

check_create_inspect() {
  local v
  v=$(vname created)
  expect_eq "docker volume create: stdout" "$v" "$(d volume create --label "$LABEL" --label team=db -o size=10m "$v")"
  expect_eq "inspect: driver, scope, options" 'local local {"size":"10m"}' \
    "$(d volume inspect -f '{{.Driver}} {{.Scope}} {{json .Options}}' "$v")"
  expect_eq "inspect: labels" "{\"${LABEL%%=*}\":\"$RUN_ID\",\"team\":\"db\"}" "$(d volume inspect -f '{{json .Labels}}' "$v")"
  expect_eq "inspect: name" "$v" "$(d volume inspect -f '{{.Name}}' "$v")"
  [[ -n $(d volume inspect -f '{{.Mountpoint}}' "$v") ]] || fail_because "inspect: empty Mountpoint"
  [[ $(d volume inspect -f '{{.CreatedAt}}' "$v") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]] || fail_because "inspect: CreatedAt"
  if [[ -n ${PODSHIM_KUBECONFIG:-} ]]; then # the claim: 10m read as Docker reads sizes, the label for kubectl -l
    expect_eq "kubectl: the claim's request" "10Mi" "$(k get pvc -l podshim.io/volume=true,team=db -o json |
      jq -r --arg v "$v" '.items[] | select(.metadata.annotations["podshim.io/volume-name"] == $v) | .spec.resources.requests.storage')"
  fi
  # Creating it again answers the existing volume.
  expect_eq "create again: stdout" "$v" "$(d volume create "$v")"
  run_rc d volume inspect "$(vname nosuch)" >"$WORK/out" 2>"$WORK/err"
  expect_eq "inspect of a missing volume: exit code" 1 "$RC"
  expect_contains "inspect of a missing volume: stderr" "no such volume" "$(cat "$WORK/err")"
  run_rc d volume create -o size=lots "$(vname badsize)" >"$WORK/out" 2>"$WORK/err"
  expect_eq "create with a bad size: exit code" 1 "$RC"
}

check_ls_filters() {
  local a b c
  a=$(vname ls-a) b=$(vname ls-b) c=$(vname ls-c)
  local mine="lscheck=$RUN_ID"
  d volume create --label "$LABEL" --label "$mine" --label tier=a "$a" >/dev/null
  d volume create --label "$LABEL" --label "$mine" --label tier=b "$b" >/dev/null
  d volume create --label "$LABEL" --label "$mine" "$c" >/dev/null
  expect_eq "ls --filter label=K=V" "$(printf '%s\n' "$a" "$b" "$c")" "$(d volume ls -q --filter "label=$mine")"
  expect_eq "ls --filter label=tier=a" "$a" "$(d volume ls -q --filter "label=$mine" --filter label=tier=a)"
  expect_eq "ls --filter label=tier" "$(printf '%s\n' "$a" "$b")" "$(d volume ls -q --filter "label=$mine" --filter label=tier)"
  expect_eq "ls --filter name=" "$b" "$(d volume ls -q --filter "name=$RUN_ID-ls-b")"
  d create --label "$LABEL" --name "$(cname ls-user)" -v "$a:/d" "$IMAGE" true >/dev/null
  expect_eq "ls --filter dangling=true" "$(printf '%s\n' "$b" "$c")" \
    "$(d volume ls -q --filter "label=$mine" --filter dangling=true)"
  expect_eq "ls --filter dangling=false" "$a" "$(d volume ls -q --filter "label=$mine" --filter dangling=false)"
  expect_eq "ls --format" "local $a" "$(d volume ls --filter "name=$RUN_ID-ls-a" --format '{{.Driver}} {{.Name}}')"
  d rm "$(cname ls-user)" >/dev/null
}

check_named_volume_data_follows() {
  local v
  v=$(vname data)
  run_rc d run --rm --label "$LABEL" -v "$v:/d" "$IMAGE" sh -c 'echo written-by-one > /d/f' >"$WORK/out" 2>"$WORK/err"
  expect_eq "first run: exit code" 0 "$RC"
  run_rc d run --rm --label "$LABEL" -v "$v:/d" "$IMAGE" cat /d/f >"$WORK/out" 2>"$WORK/err"
  expect_eq "second run: exit code" 0 "$RC"
  expect_file "second run: stdout" $'written-by-one\n' "$WORK/out"
  expect_eq "the volume -v created" "$v" "$(d volume ls -q --filter "name=$v")"
}

check_read_only() {
  local v
  v=$(vname ro)
  d run --rm --label "$LABEL" -v "$v:/d" "$IMAGE" sh -c 'echo kept > /d/f'
  run_rc d run --rm --label "$LABEL" -v "$v:/d:ro" "$IMAGE" sh -c 'cat /d/f; touch /d/f' >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 1 "$RC"
  expect_file "stdout" $'kept\n' "$WORK/out"
  expect_contains "stderr" "Read-only file system" "$(cat "$WORK/err")"
  expect_eq "after: the file" "kept" "$(d run --rm --label "$LABEL" -v "$v:/d" "$IMAGE" cat /d/f)"
}

check_mount_subpath() {
  local v
  v=$(vname sub)
  d run --rm --label "$LABEL" -v "$v:/d" "$IMAGE" sh -c 'mkdir /d/sub && echo in-sub > /d/sub/f && echo at-root > /d/g'
  run_rc d run --rm --label "$LABEL" --mount "type=volume,src=$v,dst=/m,volume-subpath=sub" "$IMAGE" \
    sh -c 'ls /m; cat /m/f; echo from-subpath > /m/h' >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code ($(cat "$WORK/err"))" 0 "$RC"
  expect_file "stdout: the subdirectory only" $'f\nin-sub\n' "$WORK/out"
  expect_eq "written through the subpath" "from-subpath" "$(d run --rm --label "$LABEL" -v "$v:/d" "$IMAGE" cat /d/sub/h)"
}

check_rm_in_use() {
  local v name id
  v=$(vname inuse) name=$(cname inuse)
  d run -d --label "$LABEL" --name "$name" -v "$v:/d" "$IMAGE" sleep 300 >/dev/null
  id=$(d inspect -f '{{.Id}}' "$name")
  run_rc d volume rm "$v" >"$WORK/out" 2>"$WORK/err"
  expect_eq "rm in use: exit code" 1 "$RC"
  expect_file "rm in use: stderr" "Error response from daemon: remove $v: volume is in use - [$id]"$'\n' "$WORK/err"
  run_rc d volume rm -f "$v" >"$WORK/out" 2>"$WORK/err"
  expect_eq "rm -f in use: exit code" 1 "$RC"
  expect_contains "rm -f in use: stderr" "volume is in use" "$(cat "$WORK/err")"
  d rm -f "$name" >/dev/null
  expect_eq "still there after docker rm" "$v" "$(d volume ls -q --filter "name=$v")"
  expect_eq "rm once unused: stdout" "$v" "$(d volume rm "$v")"
  expect_eq "ls after rm" "" "$(d volume ls -q --filter "name=$v")"
  expect_no_claim_left "$v"
}

check_anonymous_stop_start_rm_v() {
  local name anon
  name=$(cname anon)
  d run -d --label "$LABEL" --name "$name" -v /scratch "$IMAGE" sleep 300 >/dev/null
  anon=$(mounted_volume "$name" /scratch)
  echo "$anon" >>"$WORK/anonymous"
  [[ $anon =~ ^[0-9a-f]{64}$ ]] || fail_because "the anonymous volume's name: '$anon'"
  expect_eq "ls lists it" "$anon" "$(d volume ls -q --filter "name=$anon")"
  d exec "$name" sh -c 'echo before-stop > /scratch/f'
  d stop -t 1 "$name" >/dev/null
  d start "$name" >/dev/null
  expect_eq "after stop and start: the same volume" "$anon" "$(mounted_volume "$name" /scratch)"
  expect_eq "after stop and start: the file" "before-stop" "$(d exec "$name" cat /scratch/f)"
  d stop -t 1 "$name" >/dev/null
  expect_eq "docker rm -v: stdout" "$name" "$(d rm -v "$name")"
  wait_volume_gone 10 "$anon" || fail_because "docker volume ls still lists $anon 10 s after docker rm -v"
  expect_no_claim_left "$anon"
}

check_plain_rm_keeps_anonymous() {
  local name anon
  name=$(cname keep)
  d create --label "$LABEL" --name "$name" -v /scratch "$IMAGE" true >/dev/null
  anon=$(mounted_volume "$name" /scratch)
  echo "$anon" >>"$WORK/anonymous"
  d rm "$name" >/dev/null
  sleep 1
  expect_eq "docker rm (without -v) keeps it" "$anon" "$(d volume ls -q --filter "name=$anon")"
  expect_eq "dangling" "$anon" "$(d volume ls -q --filter "name=$anon" --filter dangling=true)"
}

check_run_rm_removes_anonymous() {
  local name anon
  name=$(cname rm-anon)
  d run -d --rm --label "$LABEL" --name "$name" -v /scratch "$IMAGE" sleep 3 >/dev/null
  anon=$(mounted_volume "$name" /scratch)
  echo "$anon" >>"$WORK/anonymous"
  [[ -n $anon ]] || fail_because "no volume at /scratch"
  expect_eq "while it runs" "$anon" "$(d volume ls -q --filter "name=$anon")"
  d wait "$name" >/dev/null 2>&1 || true
  wait_volume_gone 20 "$anon" || fail_because "docker volume ls still lists $anon 20 s after the --rm container ended"
  # A named volume of an --rm container stays.
  d run --rm --label "$LABEL" -v "$(vname rm-named):/d" "$IMAGE" true
  expect_eq "the named volume of an --rm run" "$(vname rm-named)" "$(d volume ls -q --filter "name=$(vname rm-named)")"
}

check_tmpfs() {
  local name
  name=$(cname tmpfs)
  run_rc d run --label "$LABEL" --name "$name" --tmpfs /run:size=1m "$IMAGE" sh -c \
    "grep ' /run ' /proc/mounts | cut -d' ' -f1,3; echo x > /run/f && cat /run/f" >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code ($(cat "$WORK/err"))" 0 "$RC"
  expect_file "stdout: /run in /proc/mounts, then a file written there" $'tmpfs tmpfs\nx\n' "$WORK/out"
  expect_eq "inspect: HostConfig.Tmpfs" '{"/run":"size=1m"}' "$(d inspect -f '{{json .HostConfig.Tmpfs}}' "$name")"
  d rm "$name" >/dev/null
}

check_volumes_from() {
  local v src name anon
  v=$(vname from) src=$(cname from-src) name=$(cname from-user)
  d run -d --label "$LABEL" --name "$src" -v "$v:/d" -v /anon "$IMAGE" sh -c 'echo shared > /d/f; sleep 300' >/dev/null
  anon=$(mounted_volume "$src" /anon)
  echo "$anon" >>"$WORK/anonymous"
  run_rc d run --label "$LABEL" --name "$name" --volumes-from "$src" "$IMAGE" \
    sh -c 'for i in $(seq 50); do [ -f /d/f ] && break; sleep 0.1; done; cat /d/f; echo from-the-other > /anon/g' \
    >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code ($(cat "$WORK/err"))" 0 "$RC"
  expect_file "stdout" $'shared\n' "$WORK/out"
  expect_eq "the anonymous volume, seen from its container" "from-the-other" "$(d exec "$src" cat /anon/g)"
  expect_eq "inspect: the volumes taken" "/anon=$anon /d=$v" \
    "$(d inspect -f '{{range .Mounts}}{{.Destination}}={{.Name}} {{end}}' "$name" | tr ' ' '\n' | sort | grep . | paste -sd' ')"
  run_rc d run --rm --label "$LABEL" --volumes-from "$src:ro" "$IMAGE" sh -c 'touch /d/x' >"$WORK/out" 2>"$WORK/err"
  expect_eq "--volumes-from :ro: exit code" 1 "$RC"
  expect_contains "--volumes-from :ro: stderr" "Read-only file system" "$(cat "$WORK/err")"
  d rm -f "$name" "$src" >/dev/null
}

check_prune() {
  local name anon named
  name=$(cname prune) named=$(vname prune-named)
  d volume create --label "$LABEL" "$named" >/dev/null
  # The anonymous volume carries the run's label, so the prunes below take only this run's volumes (on Docker
  # too, where they would take every unused one).
  d create --label "$LABEL" --name "$name" --mount "type=volume,dst=/scratch,volume-label=$LABEL" "$IMAGE" true >/dev/null
  anon=$(mounted_volume "$name" /scratch)
  echo "$anon" >>"$WORK/anonymous"
  expect_eq "the anonymous volume's label (--mount volume-label=)" "$anon" "$(d volume ls -q --filter "label=$LABEL" --filter "name=$anon")"
  d rm "$name" >/dev/null
  run_rc d volume prune -f --filter "label=$LABEL" >"$WORK/out" 2>"$WORK/err"
  expect_eq "prune -f: exit code" 0 "$RC"
  expect_contains "prune -f: stdout" $'Deleted Volumes:\n' "$(cat "$WORK/out")"
  grep -Fxq -- "$anon" "$WORK/out" || fail_because "prune -f did not delete the anonymous $anon: $(show "$(cat "$WORK/out")")"
  ! grep -Fxq -- "$named" "$WORK/out" || fail_because "prune -f deleted the named $named"
  expect_contains "prune -f: stdout" "Total reclaimed space: 0B" "$(cat "$WORK/out")"
  expect_eq "ls after prune -f" "" "$(d volume ls -q --filter "name=$anon")"
  expect_eq "the named volume after prune -f" "$named" "$(d volume ls -q --filter "name=$named")"
  run_rc d volume prune -f --all --filter "label=$LABEL" >"$WORK/out" 2>"$WORK/err"
  expect_eq "prune -f --all: exit code" 0 "$RC"
  grep -Fxq -- "$named" "$WORK/out" || fail_because "prune --all did not delete $named: $(show "$(cat "$WORK/out")")"
  expect_eq "ls after prune --all" "" "$(d volume ls -q --filter "label=$LABEL")"
}

check_restart_keeps_data() {
  [[ -n ${PODSHIM_RESTART:-} ]] ||
    skip_because "no PODSHIM_RESTART: the harness gave no command that SIGKILLs podshim and starts it again"
  local v name anon
  v=$(vname restart) name=$(cname restart)
  d run --rm --label "$LABEL" -v "$v:/d" "$IMAGE" sh -c 'echo named-before-kill > /d/f'
  d run -d --label "$LABEL" --name "$name" -v /scratch -v "$v:/d" "$IMAGE" sleep 300 >/dev/null
  anon=$(mounted_volume "$name" /scratch)
  echo "$anon" >>"$WORK/anonymous"
  d exec "$name" sh -c 'echo anon-before-kill > /scratch/f'
  bash -c "$PODSHIM_RESTART" >"$WORK/restart.log" 2>&1 || fail_because "PODSHIM_RESTART failed: $(show "$(tail -n 5 "$WORK/restart.log")")"
  expect_eq "ls after the restart" "$(printf '%s\n' "$anon" "$v" | sort)" \
    "$(d volume ls -q | grep -Fx -e "$anon" -e "$v" | sort)"
  expect_eq "the running container's mounts after the restart" "/d=$v /scratch=$anon" \
    "$(d inspect -f '{{range .Mounts}}{{.Destination}}={{.Name}} {{end}}' "$name" | tr ' ' '\n' | sort | grep . | paste -sd' ')"
  expect_eq "the anonymous volume's file, read in the running container" "anon-before-kill" \
    "$(d exec "$name" cat /scratch/f)"
  run_rc d volume rm "$v" >"$WORK/out" 2>"$WORK/err"
  expect_eq "still in use after the restart: volume rm exit code" 1 "$RC"
  d stop -t 1 "$name" >/dev/null
  d start "$name" >/dev/null
  expect_eq "after a start: the anonymous volume's file" "anon-before-kill" "$(d exec "$name" cat /scratch/f)"
  d rm -f -v "$name" >/dev/null
  expect_eq "the named volume's file, in a new container" "named-before-kill" \
    "$(d run --rm --label "$LABEL" -v "$v:/d" "$IMAGE" cat /d/f)"
  wait_volume_gone 10 "$anon" || fail_because "docker rm -f -v after the restart left $anon"
}

# The job pattern: run, copy the result out of the exited container, remove it. A path on a volume is read after
# the exit (podshim reads it through a short-lived helper pod that mounts the claim), a tree too; a path that is not
# on a volume is gone with the pod on podshim (Docker still has the container's filesystem), so only its refusal is
# checked against podshim.
check_cp_out_of_exited() {
  local v name dir
  v=$(vname job) name=$(cname job) dir=$WORK/cp-out
  d run --label "$LABEL" --name "$name" -v "$v:/out" "$IMAGE" sh -c 'mkdir -p /out/sub && echo result > /out/r.txt && echo deep > /out/sub/d.txt' >/dev/null
  expect_eq "the job's state" "exited 0" "$(d inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$name")"
  expect_eq "docker cp JOB:/out/r.txt - (a tar)" "result" "$(d cp "$name:/out/r.txt" - | tar -xOf -)"
  mkdir -p "$dir"
  d cp "$name:/out/r.txt" "$dir" && expect_eq "docker cp JOB:/out/r.txt DIR" "result" "$(cat "$dir/r.txt")"
  expect_eq "docker cp JOB:/out - (a tree)" "out/sub/d.txt" "$(d cp "$name:/out" - | tar -tf - | grep -x 'out/sub/d.txt')"
  if [[ -n ${PODSHIM_KUBECONFIG:-} ]]; then
    run_rc d cp "$name:/etc/hostname" "$dir" 2>"$WORK/err"
    expect_eq "docker cp of a path on no volume: exit code" 1 "$RC"
    expect_contains "its message" "only paths on its volumes can be copied" "$(cat "$WORK/err")"
    local helpers=x
    for _ in $(seq 1 100); do
      helpers=$(k get pods -l podshim.io/helper=archive -o name 2>/dev/null || echo error)
      [[ -z $helpers ]] && break
      sleep 0.1
    done
    expect_eq "helper pods left after the copies" "" "$helpers"
  fi
  expect_eq "the job's state after the copies" "exited 0" "$(d inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$name")"
  d rm -v "$name" >/dev/null
}

require_endpoint

check volume-create-inspect check_create_inspect
check volume-ls-filters check_ls_filters
check named-volume-data-follows check_named_volume_data_follows
check volume-ro-write-fails check_read_only
check mount-volume-subpath check_mount_subpath
check volume-rm-in-use-409 check_rm_in_use
check anonymous-stop-start-rm-v check_anonymous_stop_start_rm_v
check rm-keeps-anonymous check_plain_rm_keeps_anonymous
check run-rm-removes-anonymous check_run_rm_removes_anonymous
check tmpfs-run check_tmpfs
check volumes-from check_volumes_from
check volume-prune check_prune
check podshim-sigkill-restart-keeps-data check_restart_keeps_data
check cp-out-of-exited-container check_cp_out_of_exited

summarize
