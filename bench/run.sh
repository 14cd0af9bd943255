#!/usr/bin/env bash
# Measures podshim and writes BENCHMARKS.md. Not a test: figures depend on the machine, so every ratio
# in the report compares numbers measured in the same run.
# Usage: bash bench/run.sh [RUNS]     (default 20 runs per figure; uses the release build)
#   BENCH_PROFILE=debug   use the debug build instead (to try the script; the figures are then not comparable)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
profile=${BENCH_PROFILE:-release}
if [[ $profile == release ]]; then
  cargo build --release --locked --bins --example direct_floor --example load >/dev/null
else
  cargo build --locked --bins --example direct_floor --example load >/dev/null
fi
bin=$PWD/target/$profile/podshim
direct_floor=$PWD/target/$profile/examples/direct_floor
load=$PWD/target/$profile/examples/load
work=$(mktemp -d /tmp/podshim-bench.XXXXXX)
run_pid=
cleanup() {
  if [[ -n $run_pid ]]; then kill "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

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

# `docker run --rm alpine true` through podshim on the simulated cluster: Kubernetes requests and wall time,
# against the direct floor (examples/direct_floor.rs: the same pod created with kube-rs, watched to
# completion and deleted) on the same cluster in the same run.
export DOCKER_HOST=unix://$work/run.sock DOCKER_CONFIG=$work/docker-config
"$bin" --sim --sim-data "$work/runsim" --listen "$DOCKER_HOST" --admin-listen "unix://$work/admin.sock" \
  2>"$work/podshim-run.log" &
run_pid=$!
until curl -sf --unix-socket "$work/run.sock" http://podshim/_ping >/dev/null 2>&1; do sleep 0.01; done
until [[ -f $work/runsim/kubeconfig ]]; do sleep 0.01; done
# Pulled once before the measured runs, as a Docker host has its image already.
timeout 120 docker pull -q alpine >/dev/null 2>"$work/docker-pull.err" || true

docker_run_true() { timeout 120 docker run --rm alpine true >/dev/null 2>"$work/docker-run.err"; }

run_error=
req_runs=5
# "verb resource per-run" lines and "total - N" (bench/requests.sh; its warm-up also starts the shared watches).
bash bench/requests.sh "$work/admin.sock" "$req_runs" >"$work/requests" 2>"$work/docker-run.err" ||
  run_error=$(head -c 300 "$work/docker-run.err")

# The same on a real node (../shared/realk8s with REALK8S_NODE=real, already running; BENCH_REALK8S=its state
# dir; PODSHIM_SHARED as in .ci/run): podshim as the ServiceAccount of k8s/rbac.yaml in a namespace of its own, deleted afterwards.
real_requests=
if [[ -n ${BENCH_REALK8S:-} ]]; then
  real_ns=bench-$(date +%s)-$$
  KUBECONFIG=$BENCH_REALK8S/kubeconfig kubectl create namespace "$real_ns" >/dev/null
  sed "s/namespace: podshim/namespace: $real_ns/" k8s/rbac.yaml | KUBECONFIG=$BENCH_REALK8S/kubeconfig kubectl apply -f - >/dev/null
  "${PODSHIM_SHARED:-$(cd .. && pwd)/shared}/realk8s/sa-kubeconfig.sh" "$real_ns" podshim "$work/real.kubeconfig" "$BENCH_REALK8S" >/dev/null
  real_registry=127.0.0.1:$(sed -n 's/.*REGISTRY_PORT=\([0-9]*\).*/\1/p' "$BENCH_REALK8S/env")
  "$bin" --kubeconfig "$work/real.kubeconfig" --registry-mirror "http://$real_registry" --listen "unix://$work/real.sock" \
    --admin-listen "unix://$work/real-admin.sock" 2>"$work/podshim-real.log" &
  real_pid=$!
  until curl -sf --unix-socket "$work/real.sock" http://podshim/_ping >/dev/null 2>&1; do sleep 0.05; done
  DOCKER_HOST=unix://$work/real.sock timeout 120 docker pull -q alpine >/dev/null 2>&1 || true
  real_requests=$(DOCKER_HOST=unix://$work/real.sock bash bench/requests.sh "$work/real-admin.sock" "$req_runs" 2>&1) ||
    real_requests="failed: $(printf '%s' "$real_requests" | tail -n 1)"
  kill "$real_pid"; wait "$real_pid" 2>/dev/null || true
  KUBECONFIG=$BENCH_REALK8S/kubeconfig kubectl delete namespace "$real_ns" --wait=false >/dev/null
fi

# A markdown table of bench/requests.sh's lines.
requests_table() { # FILE
  echo "| verb | resource | requests per run |"
  echo "| --- | --- | --- |"
  while read -r verb resource n; do
    if [[ $verb == total ]]; then echo "| **total** | | **$n** |"; else echo "| $verb | \`$resource\` | $n |"; fi
  done <"$1"
}

podshim_us=()
floor_us=()
if [[ -z $run_error ]]; then
  for _ in $(seq 1 "$runs"); do
    t0=$(now_ns)
    docker_run_true || { run_error=$(head -c 300 "$work/docker-run.err"); break; }
    podshim_us+=("$(( ($(now_ns) - t0) / 1000 ))")
  done
fi
mapfile -t floor_us < <(timeout 600 "$direct_floor" "$work/runsim/kubeconfig" "$runs" alpine)

# `docker logs` of a finished container that wrote 500,000 lines to stdout and as many to stderr: podshim reads
# the two streams with timestamps and merges them in logging order; the floor reads the same pod's merged
# `pods/log` straight from the API server with curl (no split, no timestamps).
log_runs=5
log_lines=500000
logs_us=()
log_floor_us=()
log_error=
kubectl_sim() { kubectl --kubeconfig "$work/runsim/kubeconfig" "$@"; }
if timeout 120 docker run -d --name bench-logs alpine sh -c "seq 1 $log_lines; seq 1 $log_lines >&2" >/dev/null \
  && timeout 120 docker wait bench-logs >/dev/null; then
  server=$(kubectl_sim config view -o jsonpath='{.clusters[0].cluster.server}')
  # The simulated API server answers its owner only: its CA and bearer token are in the kubeconfig.
  kubectl_sim config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$work/sim-ca.pem"
  sim_auth="Authorization: Bearer $(kubectl_sim config view --raw -o jsonpath='{.users[0].user.token}')"
  id=$(docker inspect -f '{{.Id}}' bench-logs)
  pod=$(kubectl_sim get pods -o name | sed -n "s|^pod/\(podshim-${id:0:12}-[0-9]*\)$|\1|p" | head -1)
  got=$(docker logs bench-logs 2>&1 | wc -l)
  [[ $got == $((2 * log_lines)) ]] || log_error="docker logs gave $got lines, not $((2 * log_lines))"
  for _ in $(seq 1 "$log_runs"); do
    t0=$(now_ns)
    docker logs bench-logs >/dev/null 2>&1
    logs_us+=("$(( ($(now_ns) - t0) / 1000 ))")
    t0=$(now_ns)
    curl -sf --cacert "$work/sim-ca.pem" -H "$sim_auth" "$server/api/v1/namespaces/default/pods/$pod/log?container=main" >/dev/null
    log_floor_us+=("$(( ($(now_ns) - t0) / 1000 ))")
  done
  docker rm -f bench-logs >/dev/null 2>&1 || true
else
  log_error="the container writing the log did not run"
fi
kill "$run_pid" 2>/dev/null || true
wait "$run_pid" 2>/dev/null || true
run_pid=

scale=$(bash bench/scale.sh "$bin" "$load" "$work")

median_us() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# A markdown table of two timings (array names) and the ratio of their medians.
timing_table() { # LABEL_A SAMPLES_A LABEL_B SAMPLES_B RATIO_TEXT
  local -n a=$2 b=$4
  echo "| | median / p90 / max |"
  echo "| --- | --- |"
  echo "| $1 | $(stats "${a[@]}") ms |"
  echo "| $3 | $(stats "${b[@]}") ms |"
  echo
  echo "Ratio of the medians, $5: **$(awk -v x="$(median_us "${a[@]}")" -v y="$(median_us "${b[@]}")" 'BEGIN {printf "%.2f", x / y}')**"
}

stats() { # microsecond samples -> "median / p90 / max" in ms
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.9+0.5)]; printf "%.1f / %.1f / %.1f", m/1000, p/1000, a[NR]/1000}'
}

{
  echo "# Benchmarks"
  echo
  echo "Written by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, $profile build, $runs runs per figure."
  echo "Figures are median / p90 / max."
  echo
  echo "## Startup on the simulated cluster"
  echo
  echo "From starting \`podshim --sim --listen unix://...\` (fresh \`--sim-data\`) to its first answered \`/_ping\`:"
  echo "**$(stats "${startup_ms[@]}") ms** (target: under 1 s)."
  echo
  echo "## \`docker run --rm alpine true\` on the simulated cluster"
  echo
  if [[ -n $run_error ]]; then
    echo "Not measured: \`docker run --rm alpine true\` failed: \`$(printf '%s' "$run_error" | tr '\n' ' ')\`"
  else
    echo "Kubernetes API requests per run (mean of $req_runs runs after a warm-up, \`bench/requests.sh\`: from"
    echo "\`podshim_kube_requests_total\` on \`--admin-listen\`; the shared watches and their lists are left out;"
    echo "target: at most 5, the 4 of a run before names were claimed and one claim per create):"
    echo
    requests_table "$work/requests"
    echo
    echo "create = the record, the claim of its name and the pod; get \`pods/attach\` = the attached run's output,"
    echo "stdout and stderr apart on any Kubernetes (the start handshake, docs/streams.md); delete = the record (the"
    echo "garbage collector deletes the pod and the claim)."
    if [[ -n $real_requests ]]; then
      echo
      echo "The same on a real node (\`../shared/realk8s\`, Kubernetes 1.20 with containerd, no split log streams;"
      echo "podshim as a ServiceAccount with \`k8s/rbac.yaml\`'s Role):"
      echo
      if [[ $real_requests == failed:* ]]; then echo "Not measured: $real_requests"; else requests_table <(printf '%s\n' "$real_requests"); fi
    fi
    echo
    echo "Wall time, client side, from starting the docker CLI to its exit:"
    echo
    timing_table "\`docker run --rm alpine true\` through podshim" podshim_us \
      "direct floor (kube-rs: create the pod, watch to completion, delete, watch until gone)" floor_us \
      "podshim / direct floor"
    echo "(the podshim figure includes starting the docker CLI, which the floor does not)."
  fi
  echo
  echo "## \`docker logs\` of $((2 * log_lines)) lines, stdout and stderr apart"
  echo
  if [[ -n $log_error ]]; then
    echo "Not measured: $log_error."
  else
    echo "A finished container wrote $log_lines lines to stdout, then $log_lines to stderr. podshim reads the two"
    echo "streams with timestamps and merges them in logging order; the floor reads the pod's merged log from the"
    echo "API server with curl ($log_runs runs each, alternating):"
    echo
    timing_table "\`docker logs\` through podshim" logs_us "floor: \`curl\` of \`pods/log\`" log_floor_us "podshim / floor"
    echo "(podshim's figure includes starting the docker CLI, which demultiplexes one frame per line as Docker sends them;"
    echo "podshim reads every line with a 31-byte timestamp)."
  fi
  echo
  echo "$scale"
} > BENCHMARKS.md
cat BENCHMARKS.md
