#!/usr/bin/env bash
# The Python side of parget-bench: a venv under target/bench-venv with the
# libraries of the Python rows (aiohttp, httpx, requests, hf_transfer), the
# seeds' thread-downloader (its CLI, found beside the venv's python), and
# the parget package built from this tree (`pip install ./crates/parget-py`,
# an optimized build). parget-bench looks for each client's module in
# $PARGET_BENCH_PYTHON, then this venv, then the test suite's venv
# (target/py-venv, which scripts/test.sh fills), then python3 on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/bench-venv
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet aiohttp httpx requests hf_transfer thread-downloader
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps ./crates/parget-py
"$venv/bin/python" -c "import parget, aiohttp, httpx, requests, hf_transfer; print('bench venv:', parget.__version__)"
