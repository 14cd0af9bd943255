#!/usr/bin/env bash
# The whole test suite against the built-in simulated cluster:
#   1. installs what the tests need (compat-tests/install-deps.sh),
#   2. static checks: rustfmt, and no import circle between modules (.ci/module_cycles.py),
#   3. cargo test: unit tests, golden tests, and integration tests that drive real clients
#      (docker CLI, kube-rs) against `podshim --sim`,
#   4. the cluster conformance checks with kubectl against the simulated cluster,
#   5. the Docker client suites (docker CLI, docker-py, testcontainers, and the interactive ones: stdin,
#      TTY in tmux, exec, docker cp) against `podshim --sim`, then cli/volumes.sh's restart check against a podshim
#      on `podshim sim-cluster` that compat-tests/podshim-proc.sh SIGKILLs and starts again.
# Prints the time of each part, wall and CPU (`== time: PART: N s, CPU M s`: on a shared machine the CPU time says
# more), and appends `PART|N|M` to $PODSHIM_TIMINGS when set.
# PODSHIM_CI_CYCLES=report prints import circles without failing.
# Usage: bash compat-tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

times_file=$(mktemp)
# CPU_NOW: CPU seconds (user + system) of the finished children of this shell (`times` runs in this shell, not in a
# subshell of its own, which would count its own children only).
cpu_now() {
  times >"$times_file"
  CPU_NOW=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$times_file")
}
part_start=$SECONDS
cpu_now
part_cpu=$CPU_NOW
part_done() { # NAME
  local took=$((SECONDS - part_start))
  cpu_now
  echo "== time: $1: ${took} s, CPU $((CPU_NOW - part_cpu)) s"
  [[ -z ${PODSHIM_TIMINGS:-} ]] || echo "$1|$took|$((CPU_NOW - part_cpu))" >>"$PODSHIM_TIMINGS"
  part_start=$SECONDS part_cpu=$CPU_NOW
}

bash compat-tests/install-deps.sh
echo "== static checks: cargo fmt --check, import circles between modules"
cargo fmt --all --check
if [[ ${PODSHIM_CI_CYCLES:-} == report ]]; then
  python3 .ci/module_cycles.py || echo "== import circles found (PODSHIM_CI_CYCLES=report: not failing)"
else
  python3 .ci/module_cycles.py
fi
part_done "install and static checks"

cargo build --locked --bins
cargo test --workspace --locked
part_done "build and unit tests"

work=$(mktemp -d /tmp/podshim-suite.XXXXXX)
podshim_pid=
cluster_pid=
cleanup() {
  if [ -n "$podshim_pid" ]; then kill "$podshim_pid" 2>/dev/null || true; wait "$podshim_pid" 2>/dev/null || true; fi
  [ ! -f "$work/restartable/pid" ] || bash compat-tests/podshim-proc.sh stop "$work/restartable" || true
  if [ -n "$cluster_pid" ]; then kill "$cluster_pid" 2>/dev/null || true; wait "$cluster_pid" 2>/dev/null || true; fi
  rm -rf "$work" "$times_file"
}
trap cleanup EXIT

# --bind-map: cli/binds.sh maps a directory of this machine onto a claim (the sidecar deployment); the simulated
# node is podshim-sim.
bind_map=/tmp/podshim-bind-map-$$
./target/debug/podshim --sim --sim-data "$work/sim" --listen "unix://$work/docker.sock" \
  --bind-map "$bind_map=podshim-bind-map/jobs" --node-name podshim-sim 2>"$work/podshim.log" &
podshim_pid=$!
for _ in $(seq 1 200); do
  [ -S "$work/docker.sock" ] && [ -f "$work/sim/kubeconfig" ] && break
  sleep 0.05
done
if ! [ -f "$work/sim/kubeconfig" ]; then
  echo "podshim --sim did not start:" >&2; cat "$work/podshim.log" >&2; exit 1
fi

echo "== cluster conformance (kubectl) against the simulated cluster"
# The simulator keeps no watch history from before it started, so a watch from resourceVersion 1 must
# get 410 there at once (a real API server only does so once its watch cache has moved on).
CONFORMANCE_REQUIRE_410=1 CONFORMANCE_SPLIT_LOGS=1 CONFORMANCE_IMAGES=1 KUBECONFIG="$work/sim/kubeconfig" bash compat-tests/cluster/conformance.sh

echo "== Docker client suites (docker CLI, docker-py) against podshim --sim"
# The simulated cluster's registry (one line, 127.0.0.1:PORT) serves the images; the private-registry suite
# builds its image from its busybox and pushes it to the simulated private registry (user podshim, password
# podshim-sim-secret), the one its node pulls private images from; the node runs what the image config says.
private=()
if [ -f "$work/sim/registry" ] && [ -f "$work/sim/registry-private" ]; then
  private=(PRIVATE_REGISTRY=1 "SOURCE_IMAGE=$(cat "$work/sim/registry")/library/busybox:latest"
    "PRIVATE_REGISTRY_ADDR=$(cat "$work/sim/registry-private")" PRIVATE_USER=podshim PRIVATE_PASSWORD=podshim-sim-secret
    RUNS_IMAGE_CONFIG=1)
fi
env DOCKER_HOST="unix://$work/docker.sock" PODSHIM_KUBECONFIG="$work/sim/kubeconfig" INTERACTIVE_SUITES=1 "${private[@]}" \
  BIND_MAP_PREFIX="$bind_map" BIND_MAP_CLAIM=podshim-bind-map BIND_MAP_NODE=podshim-sim \
  bash compat-tests/docker-suites.sh
kill "$podshim_pid" 2>/dev/null || true
wait "$podshim_pid" 2>/dev/null || true
podshim_pid=

echo "== volumes across a SIGKILLed podshim (podshim on a standalone simulated cluster, killed and started again)"
# `podshim --sim` holds its cluster in its own process: here the cluster (podshim sim-cluster) outlives podshim.
./target/debug/podshim sim-cluster --sim-data "$work/sim-cluster" 2>"$work/sim-cluster.log" &
cluster_pid=$!
for _ in $(seq 1 400); do
  [ -f "$work/sim-cluster/kubeconfig" ] && [ -f "$work/sim-cluster/registry" ] && break
  sleep 0.05
done
bash compat-tests/podshim-proc.sh start "$work/restartable" "$work/restartable.sock" "$work/restartable.log" -- \
  ./target/debug/podshim --kubeconfig "$work/sim-cluster/kubeconfig" \
  --registry-mirror "http://$(cat "$work/sim-cluster/registry")"
DOCKER_HOST="unix://$work/restartable.sock" PODSHIM_KUBECONFIG="$work/sim-cluster/kubeconfig" \
  PODSHIM_RESTART="bash '$PWD/compat-tests/podshim-proc.sh' restart '$work/restartable'" \
  CHECKS_ONLY=podshim-sigkill-restart-keeps-data bash compat-tests/cli/volumes.sh
part_done "simulator suites"
