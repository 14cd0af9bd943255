#!/usr/bin/env bash
# Installs what the test suite needs and is not part of the machine image. Idempotent and quiet when
# everything is there already. Needs root only when something is missing.
set -euo pipefail

need_cmd() { command -v "$1" >/dev/null 2>&1 || { echo "install-deps: $1 is required ($2)" >&2; exit 1; }; }
need_cmd cargo "the Rust toolchain"
need_cmd kubectl "the real Kubernetes client the conformance checks drive"
need_cmd docker "the real docker CLI the compatibility tests drive"
need_cmd python3 "for docker-py"

# Python clients, pinned so a run today and a run next month test the same client.
python3 - <<'PY' || python3 -m pip install --quiet --disable-pip-version-check 'docker==7.1.0'
import importlib.metadata as m, sys
sys.exit(0 if m.version("docker") == "7.1.0" else 1)
PY
python3 - <<'PY' || python3 -m pip install --quiet --disable-pip-version-check 'pytest==8.3.*'
import importlib.metadata as m, sys
sys.exit(0 if m.version("pytest").startswith("8.3.") else 1)
PY
python3 - <<'PY' || python3 -m pip install --quiet --disable-pip-version-check 'testcontainers==4.15.0' 'docker==7.1.0'
import importlib.metadata as m, sys
sys.exit(0 if m.version("testcontainers") == "4.15.0" else 1)
PY

# tmux: the real terminal that compat-tests/cli/terminal.sh drives `docker run -it` / `docker exec -it` in.
if ! command -v tmux >/dev/null 2>&1; then
  apt-get install -y -qq tmux >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq tmux >/dev/null; }
fi
