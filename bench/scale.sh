#!/usr/bin/env bash
# Scale and memory: podshim alone (its own process, on `podshim sim-cluster`), driven by examples/load.rs over
# the unix socket. Prints a markdown section for BENCHMARKS.md on stdout.
# Usage: bash bench/scale.sh BIN LOAD WORKDIR     (called by bench/run.sh)
set -euo pipefail
bin=$1 load=$2 work=$3
sock=$work/scale.sock
cluster_pid= podshim_pid= waiters_pid=
cleanup() {
  for p in $waiters_pid $podshim_pid $cluster_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

"$bin" sim-cluster --sim-data "$work/scalesim" 2>"$work/scale-cluster.log" &
cluster_pid=$!
until [[ -f $work/scalesim/kubeconfig ]]; do sleep 0.05; done
for _ in $(seq 1 100); do [[ -s $work/scalesim/registry ]] && break; sleep 0.05; done
mirror=()
[[ -s $work/scalesim/registry ]] && mirror=(--registry-mirror "http://$(cat "$work/scalesim/registry")")
"$bin" --kubeconfig "$work/scalesim/kubeconfig" --listen "unix://$sock" "${mirror[@]}" 2>"$work/scale-podshim.log" &
podshim_pid=$!
until curl -sf --unix-socket "$sock" http://podshim/_ping >/dev/null 2>&1; do sleep 0.02; done
# The creates below name alpine, which must be pulled first, as with Docker.
curl -sf --unix-socket "$sock" -X POST "http://podshim/images/create?fromImage=alpine&tag=latest" >/dev/null
sleep 1
rss() { echo $(( $("$load" rss "$podshim_pid") / 1024 )); }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if (i<1) i=1; printf "%.2f", a[i]/1000}'; }
value() { awk -v k="$1" '$1 == k {print $2}'; }

rss_idle=$(rss)
first=$("$load" create "$sock" 1000 8)
rss_1000=$(rss)
id=$(curl -sf --unix-socket "$sock" 'http://podshim/containers/json?all=1&limit=1' | sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p')
"$load" latency "$sock" "/containers/$id/json" 500 >"$work/inspect.us"
"$load" latency "$sock" "/containers/json?all=1" 50 >"$work/ps.us"
baseline=$("$load" create "$sock" 1000 8)
"$load" waiters "$sock" 100 >"$work/waiters.out" &
waiters_pid=$!
until grep -q ready "$work/waiters.out" 2>/dev/null; do sleep 0.1; done
with_waiters=$("$load" create "$sock" 1000 8)
kill "$waiters_pid"; wait "$waiters_pid" 2>/dev/null || true; waiters_pid=
runs=$("$load" runs "$sock" 3000 8)
rss_runs=$(rss)
big=$("$load" create "$sock" 10000 8)
rss_big=$(rss)
count=$(curl -sf --unix-socket "$sock" 'http://podshim/containers/json?all=1' | grep -o '"Id"' | wc -l)

base_rate=$(value creates_per_s <<<"$baseline")
wait_rate=$(value creates_per_s <<<"$with_waiters")
cat <<MD
## Scale and memory

podshim alone on \`podshim sim-cluster\`, driven over its unix socket by \`examples/load.rs\` (raw HTTP/1.1,
keep-alive, 8 clients). Targets: inspect p50 at most 0.3 ms at 1,000 containers; RSS at most 64 MiB at any churn.

| figure | value |
| --- | --- |
| creates per second, 0 -> 1,000 containers | $(value creates_per_s <<<"$first") |
| \`GET /containers/{id}/json\` at 1,000 containers, p50 / p90 / p99 (500 on one connection) | $(pct 0.5 <"$work/inspect.us") / $(pct 0.9 <"$work/inspect.us") / $(pct 0.99 <"$work/inspect.us") ms |
| \`GET /containers/json?all=1\` (\`ps -a\`) at 1,000 containers, p50 / p90 / p99 (50) | $(pct 0.5 <"$work/ps.us") / $(pct 0.9 <"$work/ps.us") / $(pct 0.99 <"$work/ps.us") ms |
| creates per second, 1,000 -> 2,000 containers | $base_rate |
| the same with 100 waits held on 100 running containers, 2,100 -> 3,100 | $wait_rate (ratio $(awk -v a="$wait_rate" -v b="$base_rate" 'BEGIN {printf "%.2f", a / b}')) |
| \`--rm\` runs per second (create with AutoRemove, wait removed, start), 3,000 runs | $(value runs_per_s <<<"$runs") |
| creates per second while 10,000 more are created | $(value creates_per_s <<<"$big") |
| \`_ping\` p99 / max during those 10,000 creates (every 10 ms) | $(awk -v a="$(value ping_p99_us <<<"$big")" -v b="$(value ping_max_us <<<"$big")" 'BEGIN {printf "%.1f / %.1f", a / 1000, b / 1000}') ms |
| containers listed at the end | $count |
| RSS idle / at 1,000 containers / after 3,000 \`--rm\` runs (3,100 containers) / at $count containers | $rss_idle / $rss_1000 / $rss_runs / $rss_big MiB |
MD
