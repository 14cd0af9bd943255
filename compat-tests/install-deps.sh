#!/usr/bin/env bash
# Installs what the test suite needs and is not part of the machine image. Idempotent and quiet when
# everything is there already. Needs root only when something is missing.
set -euo pipefail

need_cmd() { command -v "$1" >/dev/null 2>&1 || { echo "install-deps: $1 is required ($2)" >&2; exit 1; }; }
need_cmd cargo "the Rust toolchain"
need_cmd kubectl "the real Kubernetes client the conformance checks drive"
need_cmd docker "the real docker CLI the compatibility tests drive"
need_cmd python3 "for docker-py"
# rustfmt and clippy: the static checks (compat-tests/run.sh, .ci/run).
for component in rustfmt clippy; do
  cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$component"
done

# Python clients, pinned so a run today and a run next month test the same client. `pip_pin NAME PREFIX SPEC...`
# installs SPEC... unless NAME is installed with a version starting with PREFIX. testcontainers is installed
# together with docker-py's pin, so pip cannot move docker-py.
pip_pin() {
  local name=$1 prefix=$2
  shift 2
  python3 -c 'import importlib.metadata as m, sys; sys.exit(0 if m.version(sys.argv[1]).startswith(sys.argv[2]) else 1)' \
    "$name" "$prefix" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check "$@"
}
pip_pin docker 7.1.0 'docker==7.1.0'
pip_pin pytest 8.3. 'pytest==8.3.*'
pip_pin testcontainers 4.15.0 'testcontainers==4.15.0' 'docker==7.1.0'

# Debian packages: tmux, the real terminal that compat-tests/cli/terminal.sh drives `docker run -it` /
# `docker exec -it` in; docker-registry (distribution), htpasswd (apache2-utils) and skopeo for the private
# registry of compat-tests/registry/private.sh. `apt_need COMMAND PACKAGE`.
apt_need() {
  command -v "$1" >/dev/null 2>&1 && return
  apt-get install -y -qq "$2" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
}
apt_need tmux tmux
apt_need docker-registry docker-registry
apt_need htpasswd apache2-utils
apt_need skopeo skopeo
