#!/usr/bin/env bash
# The whole test suite against the built-in simulated cluster:
#   1. installs what the tests need (compat-tests/install-deps.sh),
#   2. cargo test: unit tests, golden tests, and integration tests that drive real clients
#      (docker CLI, kube-rs) against `podshim --sim`,
#   3. the cluster conformance checks with kubectl against the simulated cluster,
#   4. the Docker client suites (docker CLI, docker-py, testcontainers, and the interactive ones: stdin,
#      TTY in tmux, exec, docker cp) against `podshim --sim`.
# Usage: bash compat-tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash compat-tests/install-deps.sh
cargo build --locked --bins
cargo test --workspace --locked

work=$(mktemp -d /tmp/podshim-suite.XXXXXX)
podshim_pid=
cleanup() {
  if [ -n "$podshim_pid" ]; then kill "$podshim_pid" 2>/dev/null || true; wait "$podshim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

./target/debug/podshim --sim --sim-data "$work/sim" --listen "unix://$work/docker.sock" 2>"$work/podshim.log" &
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
# builds its image from its busybox.
private=()
if [ -f "$work/sim/registry" ]; then
  private=(PRIVATE_REGISTRY=1 "SOURCE_IMAGE=$(cat "$work/sim/registry")/library/busybox:latest")
fi
env DOCKER_HOST="unix://$work/docker.sock" PODSHIM_KUBECONFIG="$work/sim/kubeconfig" INTERACTIVE_SUITES=1 "${private[@]}" \
  bash compat-tests/docker-suites.sh
