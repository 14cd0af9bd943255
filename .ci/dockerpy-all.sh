#!/usr/bin/env bash
# docker-py 7.2.0's own integration tests (../shared/docker-py-tests/run.sh --suite all) against DOCKER_HOST, as a
# count: prints run.sh's output (pytest's summary, what passes on Docker but not here) with its last line
#   docker-py all: N of 208 Docker passes also pass here
# and appends `LABEL: N of 208` to $PODSHIM_CI_COUNTS when set. Not yet a gate: exits 0 whatever the count, and
# non-zero only when the tests could not run (no interpreter, no count line).
#
#   DOCKER_HOST=unix:///path/to/docker.sock .ci/dockerpy-all.sh LABEL
#
# The interpreter is a venv of its own with what run.sh asks for (docker==7.2.0 and pytest 7; the compat suites use
# docker-py 7.1.0 from compat-tests/install-deps.sh, so the two stay apart): $PODSHIM_CI_VENV, default
# ~/.cache/podshim-ci/docker-py-7.2.0, created on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
label=${1:?usage: DOCKER_HOST=... .ci/dockerpy-all.sh LABEL}
: "${DOCKER_HOST:?set DOCKER_HOST to the engine under test}"
SHARED=${PODSHIM_SHARED:-$(cd .. && pwd)/shared}
venv=${PODSHIM_CI_VENV:-${HOME:-/root}/.cache/podshim-ci/docker-py-7.2.0}
pins=('docker==7.2.0' 'pytest==7.4.2' 'pytest-timeout==2.1.0' paramiko websocket-client)

if [[ $(cat "$venv/.pins" 2>/dev/null) != "${pins[*]}" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" >"$venv/.pins"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# run.sh exits 1 while some test that passes on Docker fails here: that is the count, not an error.
"$SHARED/docker-py-tests/run.sh" --suite all "$venv/bin/python" | tee "$log" || true
count=$(sed -n 's/^docker-py all: \([0-9]* of [0-9]*\) .*/\1/p' "$log")
if [[ -z $count ]]; then
  echo "docker-py all on $label: no count (the tests did not run)" >&2
  exit 1
fi
echo "docker-py all on $label: $count"
[[ -z ${PODSHIM_CI_COUNTS:-} ]] || echo "$label: $count" >>"$PODSHIM_CI_COUNTS"
