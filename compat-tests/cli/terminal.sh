#!/usr/bin/env bash
# docker CLI compatibility checks through a real terminal: `docker run -it` and `docker exec -it` run in a
# tmux pane (a pseudo-terminal), driven by typed keys and read back from the screen: type a command and read
# its output, resize the pane and read the new size from `stty size` inside, exit and check the exit status;
# detach with ctrl-p ctrl-q (run -it and exec -it).
#
#   DOCKER_HOST=unix:///path/to/docker.sock bash compat-tests/cli/terminal.sh
#
# Every check encodes what a real Docker Engine answers (validated against Docker 20.10 with a busybox image
# tagged alpine, docker CLI 28), so the same script runs against Docker and against podshim. Output: one
# `ok - NAME` / `not ok - NAME: WHY` line per check, then `N passed, M failed[, K skipped]`; the exit
# status is non-zero when a check failed. Every wait is bounded (TERM_WAIT seconds, default 30).
#
# Environment: DOCKER_HOST (required), DOCKER (CLI binary, default docker), IMAGE (an image with a shell
# and stty; default alpine), TMUX_BIN (default tmux; the checks are skipped when it is missing); SKIP_LIST,
# SKIP_LIST_VERIFY and CHECKS_ONLY as in compat-tests/checks.sh (suite name: cli-terminal).
#
# Needs bash, coreutils `timeout`, tmux (compat-tests/install-deps.sh installs it).
set -euo pipefail
PREFIX=tt
SUITE=cli-terminal
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
TMUX_BIN=${TMUX_BIN:-tmux}
TERM_WAIT=${TERM_WAIT:-30}
TMUX_SOCK=$WORK/tmux.sock
# shellcheck disable=SC2016
CLEANUP_HOOKS+=('timeout 10 "$TMUX_BIN" -S "$TMUX_SOCK" kill-server')
# The terminal's size before and after the resize (rows columns).
ROWS=30 COLS=100 NEW_ROWS=40 NEW_COLS=132

# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------

# tmux on this run's private server, never blocking.
tm() { timeout 10 "$TMUX_BIN" -S "$TMUX_SOCK" -f /dev/null "$@"; }

# Starts COMMAND (a docker CLI argument list) in a new ROWSxCOLS tmux session SESSION; when the command
# ends its exit status is written to $WORK/SESSION.status.
start_in_pane() { # SESSION DOCKER-ARGS...
  local session=$1 cmd
  shift
  command -v "$TMUX_BIN" >/dev/null || skip_because "$TMUX_BIN is not installed"
  printf -v cmd '%q ' env "DOCKER_HOST=$DOCKER_HOST" "DOCKER_CONFIG=$DOCKER_CONFIG" \
    timeout --foreground 300 "$DOCKER" "$@"
  rm -f "$WORK/$session.status"
  tm new-session -d -s "$session" -x "$COLS" -y "$ROWS" \
    "$cmd; echo \$? >$(printf %q "$WORK/$session.status"); sleep 600"
}

# The pane's text (scrollback included), trailing blanks removed from each line.
screen() { tm capture-pane -p -J -S -500 -t "$1" | sed 's/[[:space:]]*$//'; }

# The last non-empty lines of the pane on one line, for failure messages.
last_lines() { show "$(screen "$1" | grep -v '^$' | tail -n 8)"; }

# Waits until a line of the pane matches the extended regex LINE exactly.
wait_line() { # SESSION LINE [SECONDS]
  local deadline=$((SECONDS + ${3:-$TERM_WAIT}))
  until screen "$1" | grep -Eqx -- "$2"; do
    if [[ -s $WORK/$1.status ]] && ! screen "$1" | grep -Eqx -- "$2"; then
      fail_because "the command ended (exit $(cat "$WORK/$1.status")) before a line '$2'; the terminal shows: $(last_lines "$1")"
      return 1
    fi
    ((SECONDS < deadline)) || { fail_because "no line '$2' on the terminal; it shows: $(last_lines "$1")"; return 1; }
    sleep 0.1
  done
}

# Types a line into the pane.
type_line() { tm send-keys -t "$1" -l "$2" && tm send-keys -t "$1" Enter; }

# The terminal inside must report the pane's size: `stty size` is typed again until it does (the resize
# travels from SIGWINCH through the client to the server asynchronously).
wait_size() { # SESSION
  local want deadline=$((SECONDS + TERM_WAIT))
  want=$(tm display-message -p -t "$1" '#{pane_height}x#{pane_width}')
  # shellcheck disable=SC2016
  until type_line "$1" 'echo size-$(stty size | tr " " x)' && wait_line "$1" "size-$want" 2 2>/dev/null; do
    : >"$WORK/reason"
    ((SECONDS < deadline)) || { fail_because "stty size inside never became $want; the terminal shows: $(last_lines "$1")"; return 1; }
  done
}

# The exit status of the pane's command, once it has ended.
wait_status() { # SESSION
  local deadline=$((SECONDS + TERM_WAIT))
  until [[ -s $WORK/$1.status ]]; do
    ((SECONDS < deadline)) || { fail_because "the command did not end; the terminal shows: $(last_lines "$1")"; return 1; }
    sleep 0.1
  done
  cat "$WORK/$1.status"
}

# The common session: a shell prompt, a command and its output, the size before and after a resize, exit.
drive_shell() { # SESSION
  wait_line "$1" '.*[#$]'
  # shellcheck disable=SC2016
  type_line "$1" 'echo hello-$((6*7))'
  wait_line "$1" hello-42
  wait_size "$1"
  tm resize-window -t "$1" -x "$NEW_COLS" -y "$NEW_ROWS"
  [[ $(tm display-message -p -t "$1" '#{pane_height} #{pane_width}') != "$ROWS $COLS" ]] ||
    fail_because "tmux did not resize the pane"
  wait_size "$1"
  type_line "$1" exit
  expect_eq "exit status of the docker CLI" 0 "$(wait_status "$1")"
}

# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------

check_run_it() {
  local name
  name=$(cname run-it)
  start_in_pane run-it run -it --label "$LABEL" --name "$name" "$IMAGE" sh
  drive_shell run-it
  expect_eq "inspect State.Status State.ExitCode" "exited 0" \
    "$(d inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$name")"
}

check_exec_it() {
  local name
  name=$(cname exec-it)
  d run -d --label "$LABEL" --name "$name" "$IMAGE" sleep 300 >/dev/null
  start_in_pane exec-it exec -it "$name" sh
  drive_shell exec-it
  expect_eq "the container after the exec (inspect State.Running)" true \
    "$(d inspect -f '{{.State.Running}}' "$name")"
}

# The exit code of the shell reaches the CLI.
check_run_it_exit_code() {
  local name
  name=$(cname run-it-rc)
  start_in_pane run-it-rc run -it --rm --label "$LABEL" --name "$name" "$IMAGE" sh
  wait_line run-it-rc '.*[#$]'
  type_line run-it-rc 'exit 7'
  expect_eq "exit status of the docker CLI" 7 "$(wait_status run-it-rc)"
}

# ctrl-p ctrl-q (the default detach keys) detach the client; the container keeps running, and a second attach
# can type into it.
check_run_it_detach() {
  local name
  name=$(cname run-it-detach)
  start_in_pane detach run -it --label "$LABEL" --name "$name" "$IMAGE" sh
  wait_line detach '.*[#$]'
  tm send-keys -t detach C-p C-q
  expect_eq "exit status of the docker CLI" 0 "$(wait_status detach)"
  expect_eq "inspect State.Running after detaching" true "$(d inspect -f '{{.State.Running}}' "$name")"
  expect_eq "docker exec in the detached container" hi "$(d exec "$name" echo hi)"
  # The detach left the shell's stdin open (moby never closes a TTY's stdin): attaching again, typing works.
  start_in_pane reattach attach "$name"
  sleep 1
  # shellcheck disable=SC2016
  type_line reattach 'echo again-$((2*3))'
  wait_line reattach again-6
  type_line reattach exit
  expect_eq "exit status of docker attach" 0 "$(wait_status reattach)"
}

# The same keys detach `docker exec -it` (the CLI notices them itself, or the server does); the exec's shell
# keeps running: the command typed before detaching finishes afterwards, and the shell is still there.
check_exec_it_detach() {
  local name file=/tmp/$RUN_ID-exec-detach deadline status
  name=$(cname exec-it-detach)
  d run -d --label "$LABEL" --name "$name" "$IMAGE" sleep 300 >/dev/null
  start_in_pane exec-detach exec -it "$name" sh
  wait_line exec-detach '.*[#$]'
  type_line exec-detach "echo \$\$ > $file.pid; sleep 2; echo alive > $file"
  tm send-keys -t exec-detach C-p C-q
  # Docker itself ends the CLI with 0 or with 1 ("read escape sequence"), depending on which side notices the
  # keys first (checked against Docker 20.10): either is accepted, a hang is not.
  status=$(wait_status exec-detach)
  [[ $status == 0 || $status == 1 ]] ||
    fail_because "exit status of the docker CLI: expected 0 or 1, got $status; the terminal shows: $(last_lines exec-detach)"
  deadline=$((SECONDS + 20))
  until [[ $(d exec "$name" cat "$file" 2>/dev/null) == alive ]]; do
    ((SECONDS < deadline)) || fail_because "the detached exec never wrote $file"
    sleep 0.2
  done
  # With a TTY its stdin is not closed by the detach, so the shell is still there, waiting for input.
  sleep 1
  d exec "$name" sh -c "kill -0 \$(cat $file.pid)" ||
    fail_because "the exec's shell ended after the detach (its stdin was closed?)"
  d exec "$name" rm -f "$file" "$file.pid"
}

# ---------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------

require_endpoint

check run-it-type-resize-exit check_run_it
check exec-it-type-resize-exit check_exec_it
check run-it-exit-code check_run_it_exit_code
check run-it-detach-keys check_run_it_detach
check exec-it-detach-keys check_exec_it_detach

summarize
