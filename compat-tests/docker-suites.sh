#!/usr/bin/env bash
# The Docker client suites against one endpoint: the docker CLI checks (compat-tests/cli/run.sh) and the
# docker-py checks (compat-tests/dockerpy, pytest). Prints each suite's own output, then one line
#   docker-suites: cli N passed, M failed; docker-py N passed, M failed
# and exits non-zero when anything failed.
#
#   DOCKER_HOST=unix:///path/to/docker.sock [PODSHIM_KUBECONFIG=...] bash compat-tests/docker-suites.sh
#
# PODSHIM_KUBECONFIG (and PODSHIM_NAMESPACE) are passed on: the CLI suite then also checks with kubectl
# that removed containers leave no pod behind. Run compat-tests/install-deps.sh first (pytest, docker-py).
set -uo pipefail
cd "$(dirname "$0")"
: "${DOCKER_HOST:?set DOCKER_HOST to the endpoint under test}"

echo "== docker CLI suite against $DOCKER_HOST"
cli_out=$(mktemp)
trap 'rm -f "$cli_out"' EXIT
bash cli/run.sh | tee "$cli_out"
cli_rc=${PIPESTATUS[0]}
cli_summary=$(tail -n 1 "$cli_out")
[[ $cli_summary == *" passed, "* ]] || cli_summary="did not finish (exit $cli_rc)"

echo "== docker-py suite against $DOCKER_HOST"
py_out=$(timeout 900 python3 -m pytest -q -p no:cacheprovider dockerpy 2>&1)
py_rc=$?
printf '%s\n' "$py_out"
py_passed=$(grep -oE '[0-9]+ passed' <<<"$py_out" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
py_failed=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$py_out" | awk '{n += $1} END {print n + 0}')
py_summary="$py_passed passed, ${py_failed:-0} failed"
((py_rc == 0 || py_failed > 0)) || py_summary+=" (pytest exit $py_rc)"

echo "docker-suites: cli $cli_summary; docker-py $py_summary"
((cli_rc == 0 && py_rc == 0))
