#!/usr/bin/env bash
# Runs every test of parget: the Rust workspace (unit, property and
# integration tests) and, once it exists, the Python package's suite.
#
# Tests that drive real servers from Debian's packages (nginx, a proxy)
# need them installed: `scripts/test.sh` installs them with apt-get when it
# runs as root and they are missing (CI does; see scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== cargo test --workspace"
cargo test --workspace --locked "$@"
