#!/usr/bin/env bash
# docker CLI compatibility checks for interactive streams: stdin (`run -i`), TTY output (`run -t`,
# `exec -t`), exec (exit code, env, working directory, user, stdin, separate stdout/stderr) and `docker cp`
# of a directory tree into a created and a running container and back out.
#
#   DOCKER_HOST=unix:///path/to/docker.sock bash compat-tests/cli/interactive.sh
#
# Every check encodes what a real Docker Engine answers (validated against Docker 20.10 with a busybox image
# tagged alpine, docker CLI 28), so the same script runs against Docker and against podshim. Output: one
# `ok - NAME` / `not ok - NAME: WHY` line per check, then `N passed, M failed`; the exit status is non-zero
# when a check failed. Terminal sessions (`run -it`, `exec -it`) are in cli/terminal.sh.
#
# Environment: DOCKER_HOST (required), DOCKER (CLI binary, default docker), IMAGE (an image with busybox sh,
# cat, find, stat, sha256sum, sleep, id; default alpine).
#
# MERGED_LOG_STREAMS as in cli/run.sh; SKIP_LIST, SKIP_LIST_VERIFY and CHECKS_ONLY as in compat-tests/checks.sh
# (suite name: cli-interactive).
#
# Needs bash, coreutils (timeout, sha256sum, stat, sort), find, head.
set -euo pipefail
PREFIX=ia
SUITE=cli-interactive
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------

# A running container (sleep) for the exec checks; prints nothing.
run_sleeper() { # NAME
  d run -d --label "$LABEL" --name "$1" "$IMAGE" sleep 300 >/dev/null
}

# Mode and name of every entry under DIR, then the sha256 of every file, each sorted: the same text from
# GNU tools on this machine and from busybox in the container. `sh -c "$MANIFEST" sh DIR`.
# shellcheck disable=SC2016
MANIFEST='cd "$1" && find . -exec stat -c "%a %n" {} + | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort'
# The same for regular files only: before start podshim keeps files, and their directories are implied by
# their paths (created with default modes), so only the files' modes are compared there.
FILE_MANIFEST='cd "$1" && find . -type f -exec stat -c "%a %n" {} + | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort'

# The tree copied into containers: files of different modes and sizes (one empty, one binary), a name with
# spaces, a nested directory with its own mode.
make_tree() { # DIR
  local dir=$1
  mkdir -p "$dir/nested/deep"
  printf 'plain text\n' >"$dir/plain.txt"
  printf '#!/bin/sh\necho run\n' >"$dir/run.sh"
  printf 'secret\n' >"$dir/secret"
  printf 'a name with spaces\n' >"$dir/with space.txt"
  : >"$dir/empty"
  head -c 200000 /dev/urandom >"$dir/nested/deep/blob.bin"
  printf 'nested\n' >"$dir/nested/note"
  chmod 0644 "$dir/plain.txt" "$dir/empty"
  chmod 0755 "$dir/run.sh" "$dir/nested/deep"
  chmod 0600 "$dir/secret"
  chmod 0640 "$dir/with space.txt"
  chmod 0444 "$dir/nested/deep/blob.bin"
  chmod 0604 "$dir/nested/note"
  chmod 0750 "$dir/nested"
  chmod 0755 "$dir"
}

# The sha256 of the tree's files, named one by one (as the container's own command prints it).
# shellcheck disable=SC2016
SUMS='cd "$1" && sha256sum ./plain.txt ./run.sh ./secret "./with space.txt" ./empty ./nested/deep/blob.bin ./nested/note'

# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------

check_run_i_cat() {
  printf 'a\nb\n' | d run -i --rm --label "$LABEL" "$IMAGE" cat >"$WORK/out" 2>"$WORK/err"
  expect_file stdout $'a\nb\n' "$WORK/out"
  expect_file stderr "" "$WORK/err"
}

# The end of the client's stdin closes the process's stdin (StdinOnce); the exit code comes after it.
check_run_i_eof_exit_code() {
  printf 'x' >"$WORK/in"
  run_rc d run -i --rm --label "$LABEL" "$IMAGE" sh -c 'cat; echo; echo done >&2; exit 4' \
    <"$WORK/in" >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 4 "$RC"
  expect_streams "docker run -i" "$WORK/out" "$WORK/err" $'x\n' $'done\n'
}

# Without a terminal on the client side the CLI still asks for a TTY and copies its raw bytes.
# Without a TTY the detach keys are ordinary stdin bytes (moby applies them only with a TTY).
check_run_i_detach_bytes_without_tty() {
  printf 'a\x10\x11b\n' | d run -i --rm --label "$LABEL" "$IMAGE" cat >"$WORK/out"
  expect_file "output of cat" $'a\x10\x11b\n' "$WORK/out"
}

check_run_t_raw() {
  d run -t --rm --label "$LABEL" "$IMAGE" sh -c 'printf raw' </dev/null >"$WORK/out" 2>"$WORK/err"
  expect_file stdout "raw" "$WORK/out"
  expect_file stderr "" "$WORK/err"
}

# With a TTY, stderr goes to the terminal too, and the terminal turns \n into \r\n.
check_run_t_merged_crlf_exit_code() {
  run_rc d run -t --rm --label "$LABEL" "$IMAGE" sh -c 'echo out; echo err >&2; exit 3' \
    </dev/null >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 3 "$RC"
  expect_file stdout $'out\r\nerr\r\n' "$WORK/out"
  expect_file stderr "" "$WORK/err"
}

check_exec_exit_code() {
  local name
  name=$(cname exec-rc)
  run_sleeper "$name"
  run_rc d exec "$name" sh -c 'exit 5'
  expect_eq "exit code" 5 "$RC"
  run_rc d exec "$name" true
  expect_eq "exit code of true" 0 "$RC"
}

check_exec_env_workdir_user() {
  local name
  name=$(cname exec-env)
  run_sleeper "$name"
  # shellcheck disable=SC2016
  d exec -e K=V -w /tmp -u 1000 "$name" sh -c 'echo $K $(pwd) $(id -u)' >"$WORK/out"
  expect_file "docker exec -e K=V -w /tmp -u 1000" $'V /tmp 1000\n' "$WORK/out"
  # shellcheck disable=SC2016
  d exec "$name" sh -c 'echo ${K:-unset} $(id -u)' >"$WORK/out"
  expect_file "docker exec without options (image defaults)" $'unset 0\n' "$WORK/out"
  d exec "$name" pwd >"$WORK/out"
  expect_file "docker exec without -w runs in the image's working directory" $'/\n' "$WORK/out"
}

check_exec_i_stdin() {
  local name
  name=$(cname exec-stdin)
  run_sleeper "$name"
  echo hi | d exec -i "$name" cat >"$WORK/out"
  expect_file "echo hi | docker exec -i cat" $'hi\n' "$WORK/out"
  head -c 300000 /dev/urandom >"$WORK/big"
  d exec -i "$name" sha256sum <"$WORK/big" >"$WORK/out"
  expect_eq "sha256 of 300000 random bytes through exec stdin" \
    "$(sha256sum <"$WORK/big" | cut -d' ' -f1)" "$(cut -d' ' -f1 "$WORK/out")"
}

check_exec_streams_apart() {
  local name
  name=$(cname exec-streams)
  run_sleeper "$name"
  run_rc d exec "$name" sh -c 'echo out; echo err >&2; echo out2; exit 3' >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 3 "$RC"
  expect_file stdout $'out\nout2\n' "$WORK/out"
  expect_file stderr $'err\n' "$WORK/err"
}

check_exec_t_raw() {
  local name
  name=$(cname exec-tty)
  run_sleeper "$name"
  run_rc d exec -t "$name" sh -c 'echo out; echo err >&2; exit 2' </dev/null >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 2 "$RC"
  expect_file stdout $'out\r\nerr\r\n' "$WORK/out"
  expect_file stderr "" "$WORK/err"
}

# Docker answers 409; the CLI prints the message (20.10: "Container ID is not running") and exits 1.
check_exec_not_running() {
  local name
  name=$(cname exec-created)
  d create --label "$LABEL" --name "$name" "$IMAGE" sleep 300 >/dev/null
  run_rc d exec "$name" true >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 1 "$RC"
  expect_contains stderr "Error response from daemon: " "$(cat "$WORK/err")"
  expect_contains stderr "is not running" "$(cat "$WORK/err")"
}

# testcontainers' pattern: files copied into a created container are there when its process starts. The
# process prints their checksums; modes and contents are then read back with `docker cp` out.
check_cp_tree_before_start() {
  local name deadline dir
  dir=$(mktemp -d "$WORK/cp.XXXXXX")
  name=$(cname cp-created)
  make_tree "$dir/tree"
  d create --label "$LABEL" --name "$name" "$IMAGE" \
    sh -c "$SUMS; echo sums-end; sleep 300" sh "/tmp/$RUN_ID-early" >/dev/null
  # A destination of this run's own: the simulated cluster's containers share this machine's filesystem.
  d cp "$dir/tree" "$name:/tmp/$RUN_ID-early"
  d start "$name" >/dev/null
  deadline=$((SECONDS + 60))
  until d logs "$name" >"$WORK/logs" 2>&1 && grep -qx sums-end "$WORK/logs"; do
    ((SECONDS < deadline)) || fail_because "the container never printed sums-end: $(show "$(head -c 300 "$WORK/logs")")"
    sleep 0.2
  done
  expect_eq "checksums the container's process saw at start" \
    "$(sh -c "$SUMS" sh "$dir/tree"; echo sums-end)" "$(cat "$WORK/logs")"
  d cp "$name:/tmp/$RUN_ID-early" "$dir/back"
  expect_eq "file modes and checksums of the tree copied back out" \
    "$(sh -c "$FILE_MANIFEST" sh "$dir/tree")" "$(sh -c "$FILE_MANIFEST" sh "$dir/back")"
  d exec "$name" cat "/tmp/$RUN_ID-early/with space.txt" >"$WORK/out"
  expect_file "docker exec cat of the file with spaces" $'a name with spaces\n' "$WORK/out"
}

check_cp_tree_running() {
  local name dir
  dir=$(mktemp -d "$WORK/cp.XXXXXX")
  name=$(cname cp-running)
  make_tree "$dir/tree"
  run_sleeper "$name"
  # A destination of this run's own: the simulated cluster's containers share this machine's filesystem.
  local dest=/tmp/$RUN_ID-data
  d cp "$dir/tree" "$name:$dest"
  expect_eq "modes and checksums inside (docker exec)" \
    "$(sh -c "$MANIFEST" sh "$dir/tree")" "$(d exec "$name" sh -c "$MANIFEST" sh "$dest")"
  d cp "$name:$dest" "$dir/back"
  expect_eq "modes and checksums of the tree copied back out" \
    "$(sh -c "$MANIFEST" sh "$dir/tree")" "$(sh -c "$MANIFEST" sh "$dir/back")"
  # A second copy into an existing directory lands inside it, under the source's name.
  d cp "$dir/tree/nested" "$name:$dest/nested/deep"
  expect_eq "copy into an existing directory" "$(cat "$dir/tree/nested/note")" \
    "$(d exec "$name" cat "$dest/nested/deep/nested/note")"
  d exec "$name" rm -rf "$dest"
}

check_cp_missing_path() {
  local name
  name=$(cname cp-missing)
  run_sleeper "$name"
  run_rc d cp "$name:/no/such/path" "$WORK/nothing" >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 1 "$RC"
  expect_contains stderr "Could not find the file /no/such/path in container" "$(cat "$WORK/err")"
  [[ ! -e $WORK/nothing ]] || fail_because "docker cp of a missing path created $WORK/nothing"
}

# noOverwriteDirNonDir (the CLI always sends it): a file may not replace a directory, nor a directory a file;
# Docker's error names the path and the extraction directory, and nothing is replaced.
check_cp_no_overwrite_dir_non_dir() {
  local name dir dest=/tmp/$RUN_ID-over
  dir=$(mktemp -d "$WORK/cp.XXXXXX")
  name=$(cname cp-over)
  mkdir -p "$dir/f1"
  echo 'not a directory' >"$dir/d1"
  run_sleeper "$name"
  d exec "$name" sh -c "mkdir -p $dest/d1/keep && echo file > $dest/f1"
  run_rc d cp "$dir/d1" "$name:$dest/" >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code of a file over a directory" 1 "$RC"
  expect_file "error of a file over a directory" \
    "Error response from daemon: Error processing tar file(exit status 1): cannot overwrite directory \"$dest/d1\" with non-directory \"$dest\""$'\n' "$WORK/err"
  run_rc d cp "$dir/f1" "$name:$dest/" >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code of a directory over a file" 1 "$RC"
  expect_file "error of a directory over a file" \
    "Error response from daemon: Error processing tar file(exit status 1): cannot overwrite non-directory \"$dest/f1\" with directory \"$dest\""$'\n' "$WORK/err"
  expect_eq "what the container holds afterwards" "d1/keep:dir f1:file" \
    "$(d exec "$name" sh -c "cd $dest && test -d d1/keep && echo -n d1/keep:dir; test -f f1 && echo ' f1:file'")"
  d exec "$name" rm -rf "$dest"
}

# ---------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------

require_endpoint

check run-i-stdin-cat check_run_i_cat
check run-i-stdin-eof-then-exit-code check_run_i_eof_exit_code
check run-i-detach-bytes-without-tty check_run_i_detach_bytes_without_tty
check run-t-raw check_run_t_raw
check run-t-stderr-merged-crlf-exit-code check_run_t_merged_crlf_exit_code
check exec-exit-code check_exec_exit_code
check exec-env-workdir-user check_exec_env_workdir_user
check exec-i-stdin check_exec_i_stdin
check exec-stdout-stderr-apart check_exec_streams_apart
check exec-t-raw check_exec_t_raw
check exec-not-running check_exec_not_running
check cp-tree-before-start check_cp_tree_before_start
check cp-tree-running check_cp_tree_running
check cp-missing-path check_cp_missing_path
check cp-no-overwrite-dir-non-dir check_cp_no_overwrite_dir_non_dir

summarize
