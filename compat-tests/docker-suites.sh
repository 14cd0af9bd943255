#!/usr/bin/env bash
# The Docker client suites against one endpoint: the docker CLI checks (compat-tests/cli/run.sh, images.sh,
# volumes.sh, binds.sh) and the docker-py checks (compat-tests/dockerpy, pytest). Prints each suite's own output, then every
# check it skipped, then one line
#   docker-suites: cli N passed, M failed[, K skipped]; cli-images ...; cli-volumes ...; docker-py N passed, ...
# and exits non-zero when anything failed.
#
#   DOCKER_HOST=unix:///path/to/docker.sock [PODSHIM_KUBECONFIG=...] bash compat-tests/docker-suites.sh
#
# PODSHIM_KUBECONFIG (and PODSHIM_NAMESPACE) are passed on: the CLI suites then also check with kubectl
# that removed containers leave no pod behind and removed volumes no claim. PODSHIM_RESTART (a command that
# SIGKILLs podshim and starts it again) is passed on to cli/volumes.sh's restart check, BIND_MAP_PREFIX,
# BIND_MAP_CLAIM and BIND_MAP_NODE (podshim runs with that --bind-map and --node-name) to cli/binds.sh. Run
# compat-tests/install-deps.sh first (pytest, docker-py, testcontainers, tmux).
#
# PRIVATE_REGISTRY=1 adds the private-registry suite (registry/private.sh: a registry with basic auth, docker
# login, the merged image config), which needs SOURCE_IMAGE (an image with busybox to build its image from) and
# passes CERTS_D and RUNS_IMAGE_CONFIG on.
#
# INTERACTIVE_SUITES=1 adds the interactive-stream suites (stdin, TTY, exec, archives), each with its own
# part of the summary line: cli-interactive (cli/interactive.sh), cli-terminal (cli/terminal.sh, tmux),
# docker-py-interactive (dockerpy/test_interactive.py) and testcontainers (testcontainers/). Default off:
# without it dockerpy/test_interactive.py is left out of the docker-py suite.
#
# SKIP_LIST=FILE (compat-tests/skip/*.txt) skips the checks it lists, in every suite; SKIP_LIST_VERIFY=1 runs them
# and fails on those that pass (see compat-tests/checks.sh and compat-tests/skiplist.py).
set -uo pipefail
if [[ -n ${SKIP_LIST:-} ]]; then # the scripts and pytest run from other directories
  list=$(realpath -e "$SKIP_LIST" 2>/dev/null) || { echo "docker-suites: no skip list $SKIP_LIST" >&2; exit 2; }
  export SKIP_LIST=$list
fi
cd "$(dirname "$0")"
: "${DOCKER_HOST:?set DOCKER_HOST to the endpoint under test}"
INTERACTIVE=${INTERACTIVE_SUITES:-0}

SUMMARY=()
RC=0
out=$(mktemp)
skipped=$(mktemp)
trap 'rm -f "$out" "$skipped"' EXIT

# A check script printing `N passed, M failed` last.
run_script_suite() { # LABEL TITLE SCRIPT
  local rc summary
  echo "== $2 against $DOCKER_HOST"
  bash "$3" | tee "$out"
  rc=${PIPESTATUS[0]}
  summary=$(tail -n 1 "$out")
  [[ $summary == *" passed, "* ]] || summary="did not finish (exit $rc)"
  sed -n "s/^ok - \(.*\) # SKIP /$1 \1: /p" "$out" >>"$skipped"
  SUMMARY+=("$1 $summary")
  ((rc == 0)) || RC=1
}

# A pytest run; the summary counts its passed tests, its failures and errors, and what it skipped.
run_pytest_suite() { # LABEL TITLE PYTEST-ARGS...
  local label=$1 title=$2 py_out rc passed failed skips summary
  shift 2
  echo "== $title against $DOCKER_HOST"
  py_out=$(timeout 900 python3 -m pytest -q -rsx -p no:cacheprovider "$@" 2>&1)
  rc=$?
  printf '%s\n' "$py_out"
  passed=$(grep -oE '[0-9]+ passed' <<<"$py_out" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
  failed=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$py_out" | awk '{n += $1} END {print n + 0}')
  skips=$(grep -oE '[0-9]+ (skipped|xfailed)' <<<"$py_out" | awk '{n += $1} END {print n + 0}')
  sed -nE "s/^SKIPPED \[[0-9]+\] [^:]+:([0-9]+:)? /$label /p; s/^XFAIL [^:]+::([^ ]+) - /$label \1: /p" <<<"$py_out" >>"$skipped"
  summary="$passed passed, ${failed:-0} failed"
  ((skips == 0)) || summary+=", $skips skipped"
  ((rc == 0 || failed > 0)) || summary+=" (pytest exit $rc)"
  SUMMARY+=("$label $summary")
  ((rc == 0)) || RC=1
}

run_script_suite cli "docker CLI suite" cli/run.sh
run_script_suite cli-images "docker CLI images suite" cli/images.sh
run_script_suite cli-volumes "docker CLI volumes suite" cli/volumes.sh
run_script_suite cli-binds "docker CLI bind mounts suite" cli/binds.sh
# PODSHIM=1: dockerpy/test_fidelity.py also checks where podshim refuses what Kubernetes cannot do.
PODSHIM=1 run_pytest_suite docker-py "docker-py suite" dockerpy --ignore=dockerpy/test_interactive.py
if [[ ${PRIVATE_REGISTRY:-0} == 1 ]]; then
  run_script_suite private-registry "private registry suite" registry/private.sh
fi
if [[ $INTERACTIVE == 1 ]]; then
  run_script_suite cli-interactive "docker CLI interactive suite" cli/interactive.sh
  run_script_suite cli-terminal "docker CLI terminal suite (tmux)" cli/terminal.sh
  run_pytest_suite docker-py-interactive "docker-py interactive suite" dockerpy/test_interactive.py
  TESTCONTAINERS_RYUK_DISABLED=true run_pytest_suite testcontainers "testcontainers-python suite" testcontainers
fi

if [[ -s $skipped ]]; then
  echo "== skipped${SKIP_LIST:+ (skip list $SKIP_LIST)}"
  sed 's/^/  /' "$skipped"
fi
summary_line="docker-suites:"
for part in "${SUMMARY[@]}"; do summary_line+=" $part;"; done
echo "${summary_line%;}"
exit "$RC"
