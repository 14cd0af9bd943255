# Shared by the docker CLI check scripts cli/run.sh, cli/interactive.sh and cli/terminal.sh (sourced, not run): the
# run's scratch directory, its label, a private client configuration, the bounded docker CLI and the cleanup.
# The sourcing script sets PREFIX (a short word naming it) first.
# shellcheck shell=bash

: "${DOCKER_HOST:?set DOCKER_HOST to the endpoint under test}"
export DOCKER_HOST
DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-alpine}
RUN_ID="${PREFIX:-cli}$(date +%s)$$"
LABEL="podshim-compat-run=$RUN_ID"
WORK=$(mktemp -d)
# shellcheck source=../checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"
# A private client configuration: no credential helpers or contexts of the caller leak in.
export DOCKER_CONFIG=$WORK/docker-config
mkdir -p "$DOCKER_CONFIG"

# Hooks the sourcing script may add to the cleanup (commands run before the containers are removed).
CLEANUP_HOOKS=()

# Removes every container this run created (they all carry $LABEL) and the scratch directory.
cleanup() {
  local rc=$? ids hook
  for hook in "${CLEANUP_HOOKS[@]}"; do eval "$hook" >/dev/null 2>&1 || true; done
  ids=$(timeout 20 "$DOCKER" ps -aq --filter "label=$LABEL" 2>/dev/null || true)
  if [[ -n $ids ]]; then
    # shellcheck disable=SC2086
    timeout 60 "$DOCKER" rm -f $ids >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

KUBECTL=${KUBECTL:-/usr/bin/kubectl}

# kubectl against podshim's cluster (only called when PODSHIM_KUBECONFIG is set; PODSHIM_NAMESPACE when given).
k() {
  local ns=()
  [[ -z ${PODSHIM_NAMESPACE:-} ]] || ns=(-n "$PODSHIM_NAMESPACE")
  timeout "${KTIMEOUT:-20}" "$KUBECTL" --kubeconfig "$PODSHIM_KUBECONFIG" "${ns[@]}" "$@"
}

# The docker CLI, never blocking longer than $DTIMEOUT seconds.
d() { timeout "${DTIMEOUT:-60}" "$DOCKER" "$@"; }

# A container name unique to this run and check.
cname() { echo "$RUN_ID-$1"; }

# Runs a command, leaving its exit status in $RC instead of failing the check.
run_rc() {
  RC=0
  "$@" || RC=$?
}

# Fails the script (exit 2) when the endpoint does not answer `docker version`, or cannot pull $IMAGE (the checks
# expect it pulled, so that `docker run` prints no pull progress).
require_endpoint() {
  if ! timeout 20 "$DOCKER" version >"$WORK/version" 2>&1; then
    echo "docker version failed against $DOCKER_HOST: $(cat "$WORK/version")" >&2
    exit 2
  fi
  if ! timeout 120 "$DOCKER" pull -q "$IMAGE" >"$WORK/pull" 2>&1; then
    echo "docker pull $IMAGE failed against $DOCKER_HOST: $(cat "$WORK/pull")" >&2
    exit 2
  fi
}
