#!/usr/bin/env bash
# A podshim process that the check scripts can SIGKILL and start again (cli/volumes.sh's PODSHIM_RESTART).
#
#   podshim-proc.sh start DIR SOCKET LOG -- PODSHIM [ARGS...]   starts `PODSHIM ARGS... --listen unix://SOCKET`
#                                                              (stderr appended to LOG), returns once /_ping answers
#   podshim-proc.sh restart DIR                                 SIGKILLs it, waits until it is gone, starts the same
#                                                              command again, returns once /_ping answers
#   podshim-proc.sh stop DIR                                    SIGTERM, waits (at most 10 s)
#
# DIR keeps the command (DIR/cmd, one argument a line), the socket, the log's path and the process id (DIR/pid).
# So a harness passes `PODSHIM_RESTART="bash compat-tests/podshim-proc.sh restart DIR"` to the suites. The cluster
# must outlive podshim: a real one, or `podshim sim-cluster` (not `podshim --sim`, whose cluster is in its process).
set -euo pipefail

usage() { echo "usage: $0 start DIR SOCKET LOG -- PODSHIM [ARGS...] | restart DIR | stop DIR" >&2; exit 2; }

launch() { # DIR
  local dir=$1 sock log pid
  local -a cmd
  sock=$(cat "$dir/socket") log=$(cat "$dir/log")
  mapfile -t cmd <"$dir/cmd"
  # setsid: the process outlives the shell that started it (a check's subshell), and no job control reaps it.
  setsid "${cmd[@]}" --listen "unix://$sock" </dev/null >/dev/null 2>>"$log" &
  pid=$!
  echo "$pid" >"$dir/pid"
  for _ in $(seq 1 400); do
    curl -sf --unix-socket "$sock" http://podshim/_ping >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "podshim did not answer on $sock; the end of $log:" >&2
  tail -n 20 "$log" >&2
  return 1
}

wait_gone() { # PID SECONDS
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

[[ $# -ge 2 ]] || usage
action=$1 dir=$2
case $action in
  start)
    [[ $# -ge 6 && $5 == -- ]] || usage
    mkdir -p "$dir"
    printf '%s\n' "$3" >"$dir/socket"
    printf '%s\n' "$4" >"$dir/log"
    shift 5
    # The program by its absolute path, so that a restart from another directory starts the same one.
    [[ $1 != */* ]] || set -- "$(realpath -e "$1")" "${@:2}"
    printf '%s\n' "$@" >"$dir/cmd"
    launch "$dir"
    ;;
  restart)
    pid=$(cat "$dir/pid")
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || { echo "podshim $pid still runs 10 s after SIGKILL" >&2; exit 1; }
    launch "$dir"
    ;;
  stop)
    pid=$(cat "$dir/pid")
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
    ;;
  *) usage ;;
esac
