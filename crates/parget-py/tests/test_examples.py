"""The examples run against a real testbed; the stub matches the module."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict

from conftest import ROOT, Testbed

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent


def run_example(name: str, server: Testbed, out: Path, env: Dict[str, str]) -> "subprocess.CompletedProcess[str]":
    """Runs ``examples/NAME BASE OUT`` and checks that it succeeded."""
    done = subprocess.run(
        [sys.executable, str(PACKAGE / "examples" / name), server.base, str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_paginated_crawler_fetches_every_endpoint_once(
    start_testbed: Callable[..., Testbed], tmp_path: Path, python_env: Dict[str, str]
) -> None:
    files = 40
    server = start_testbed("--listing-files", str(files), "--listing-lag-ms", "100")
    out = tmp_path / "out"
    run_example("paginated.py", server, out, python_env)
    bodies = sorted((p.read_text() for p in out.iterdir()), key=lambda b: int(b.split()[0]))
    assert bodies == [f"{i} of {files}" for i in range(1, files + 1)]
    stats = server.stats()["per_path"]
    endpoints = {path: s["requests"] for path, s in stats.items() if path.startswith("/endpoint/")}
    assert len(endpoints) == files
    assert set(endpoints.values()) == {1}
    pages = stats["/api/list_files"]["requests"]
    assert pages == files // 5  # each page asked for once


def test_the_blocking_example_runs(
    start_testbed: Callable[..., Testbed], tmp_path: Path, python_env: Dict[str, str]
) -> None:
    server = start_testbed()
    out = tmp_path / "out"
    done = run_example("blocking.py", server, out, python_env)
    # The bearer token was what let the first download in; the second
    # call found the file in place and asked for nothing.
    assert server.path_stats("/iso/a.iso")["requests"] == 1
    lines = done.stdout.splitlines()
    iso = server.body(server.url("/iso/a.iso", size=3_000_000))
    assert lines[0].split() == [
        "3000000",
        hashlib.sha256(iso).hexdigest(),
        "3000000",
        server.url("/iso/a.iso", size=3_000_000, bearer="t0k3n"),
    ]
    assert lines[1] == "skipped: True"
    assert sorted(lines[2:]) == [
        f"failed: {server.base}/pool/gone?status=404: server answered HTTP 404",
        "group p 1.0 ok",
    ]
    assert (out / "a.iso").read_bytes() == iso
    for i in range(1, 9):
        assert (out / f"f{i}").read_bytes() == server.body(server.url(f"/pool/f{i}", size=1000 * i))
    assert (out / "p.deb.asc").stat().st_size == 800
    assert not (out / "gone").exists()


def test_the_workers_example_brings_results_back_from_processes(
    start_testbed: Callable[..., Testbed], tmp_path: Path, python_env: Dict[str, str]
) -> None:
    server = start_testbed()
    out = tmp_path / "out"
    done = run_example("workers.py", server, out, python_env)
    expected = []
    for i in range(1, 7):
        body = server.body(server.url(f"/pool/w{i}", size=1000 * i))
        assert (out / f"w{i}").read_bytes() == body
        expected.append(f"w{i} {1000 * i} {hashlib.sha256(body).hexdigest()}")
    assert done.stdout.splitlines() == expected


def test_the_readme_shows_the_examples_as_they_are() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("blocking.py", "paginated.py", "ray_pipeline.py", "workers.py"):
        code = (PACKAGE / "examples" / name).read_text()
        # Everything after the module docstring, verbatim.
        body = code.split('"""', 2)[2].strip()
        assert body in readme, f"README.md does not show examples/{name} as it is"


def test_the_package_readme_shows_the_ray_example_as_it_is() -> None:
    code = (PACKAGE / "examples" / "ray_pipeline.py").read_text()
    body = code.split('"""', 2)[2].strip()
    assert body in (PACKAGE / "README.md").read_text(), "crates/parget-py/README.md does not show examples/ray_pipeline.py as it is"


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
