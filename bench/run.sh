#!/usr/bin/env bash
# Measures podshim and writes BENCHMARKS.md. Not a test: figures depend on the machine, so every ratio
# in the report compares numbers measured in the same run.
# Usage: bash bench/run.sh [RUNS]     (default 20 runs per figure; uses the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo build --release --locked --bins >/dev/null
bin=$PWD/target/release/podshim
work=$(mktemp -d /tmp/podshim-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

now_ns() { date +%s%N; }

# Startup: from exec to the first answered /_ping, with a fresh --sim-data each time.
startup_ms=()
for i in $(seq 1 "$runs"); do
  sock=$work/s$i.sock
  t0=$(now_ns)
  "$bin" --sim --sim-data "$work/sim$i" --listen "unix://$sock" 2>/dev/null &
  pid=$!
  until curl -sf --unix-socket "$sock" http://podshim/_ping >/dev/null 2>&1; do sleep 0.002; done
  t1=$(now_ns)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  startup_ms+=("$(( (t1 - t0) / 1000 ))")
done

stats() { # microsecond samples -> "median / p90 / max" in ms
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.9+0.5)]; printf "%.1f / %.1f / %.1f", m/1000, p/1000, a[NR]/1000}'
}

{
  echo "# Benchmarks"
  echo
  echo "Written by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, release build, $runs runs per figure."
  echo "Figures are median / p90 / max."
  echo
  echo "## Startup on the simulated cluster"
  echo
  echo "From starting \`podshim --sim --listen unix://...\` (fresh \`--sim-data\`) to its first answered \`/_ping\`:"
  echo "**$(stats "${startup_ms[@]}") ms** (target: under 1 s)."
} > BENCHMARKS.md
cat BENCHMARKS.md
