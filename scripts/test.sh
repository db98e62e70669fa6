#!/usr/bin/env bash
# Runs every test of parget: the Rust workspace (unit, property and
# integration tests) and the Python package's suite (crates/parget-py:
# pip-installed into a venv under target/, then pytest against the
# parget-testbed binary).
#
# Tests that drive real servers from Debian's packages (nginx, a proxy)
# need them installed: `scripts/test.sh` installs them with apt-get when it
# runs as root and they are missing (CI does; see scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== cargo test --workspace"
cargo test --workspace --locked "$@"

echo "== Python package: pip install ./crates/parget-py into target/py-venv, then pytest"
# Only the Rust toolchain and CPython are needed: pip fetches maturin (the
# build backend) and the test tools from PyPI.
cargo build --locked -p parget-testbed
venv=target/py-venv
python3 -m venv "$venv"
# Ray Data (with numpy, pandas, pyarrow) for parget.ray's tests; a version
# with a manylinux wheel for CPython 3.11 (CI's). Without it those tests fail, unless
# PARGET_SKIP_RAY=1 leaves them out on purpose.
"$venv/bin/python" -m pip install --quiet pytest pytest-asyncio tqdm mypy "ray[data]>=2.60,<2.61"
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps ./crates/parget-py
PARGET_TESTBED="$PWD/target/debug/parget-testbed" "$venv/bin/python" -m pytest crates/parget-py/tests
