"""The examples run against a real testbed; the stub matches the module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict

from conftest import Testbed

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent


def test_paginated_crawler_fetches_every_endpoint_once(
    start_testbed: Callable[..., Testbed], tmp_path: Path, python_env: Dict[str, str]
) -> None:
    files = 40
    server = start_testbed("--listing-files", str(files), "--listing-lag-ms", "100")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(PACKAGE / "examples" / "paginated.py"), server.base, str(out)],
        capture_output=True,
        text=True,
        env=python_env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    bodies = sorted((p.read_text() for p in out.iterdir()), key=lambda b: int(b.split()[0]))
    assert bodies == [f"{i} of {files}" for i in range(1, files + 1)]
    stats = server.stats()["per_path"]
    endpoints = {path: s["requests"] for path, s in stats.items() if path.startswith("/endpoint/")}
    assert len(endpoints) == files
    assert set(endpoints.values()) == {1}
    pages = stats["/api/list_files"]["requests"]
    assert pages == files // 5  # each page asked for once


def test_the_stub_matches_the_native_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "parget._parget"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_and_a_typed_use_of_it_type_check() -> None:
    for target in (["-p", "parget"], [str(HERE / "typed_usage.py")]):
        done = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *target],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
