#!/usr/bin/env bash
# Kubernetes API requests per `docker run --rm IMAGE true` through a running podshim: the mean of RUNS runs after a
# warm-up (which also starts the shared watches), from podshim_kube_requests_total on its admin endpoint, the
# watches and lists left out. Prints one line per verb and resource whose count moved, `VERB RESOURCE N`, then
# `total - N`; exits non-zero (with the CLI's error on stderr) when a run fails.
#   DOCKER_HOST=unix:///... bash bench/requests.sh ADMIN_SOCKET [RUNS] [-- EXTRA docker run FLAGS]
set -euo pipefail
admin=$1
runs=${2:-5}
shift $(($# < 2 ? $# : 2))
[[ ${1:-} != -- ]] || shift
image=${IMAGE:-alpine}
err=$(mktemp)
before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$err" "$before" "$after"' EXIT

counts() {
  curl -sf --unix-socket "$admin" http://podshim/metrics |
    sed -n 's/^podshim_kube_requests_total{verb="\([a-z]*\)",resource="\([^"]*\)"} \([0-9]*\)$/\1 \2 \3/p' |
    awk '$1 != "watch" && $1 != "list" {print $1 "|" $2, $3}' | sort
}
run_once() { timeout 120 docker run --rm "$@" "$image" true >/dev/null 2>"$err" || { cat "$err" >&2; exit 1; }; }

run_once "$@"
counts >"$before"
for _ in $(seq 1 "$runs"); do run_once "$@"; done
counts >"$after"
join -a 2 -e 0 -o 0,1.2,2.2 "$before" "$after" |
  awk -v r="$runs" '{d = ($3 - $2) / r; if (d > 0) {split($1, k, "|"); printf "%s %s %.1f\n", k[1], k[2], d; t += d}}
    END {printf "total - %.1f\n", t}'
