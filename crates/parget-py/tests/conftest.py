"""Fixtures: the real parget-testbed server, started as a process.

The binary comes from ``$PARGET_TESTBED`` (scripts/test.sh builds it), or is
built with cargo on first use. Each server prints its base URL on stdout
once it listens.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

ROOT = Path(__file__).resolve().parents[3]


def testbed_binary() -> str:
    given = os.environ.get("PARGET_TESTBED")
    if given:
        return given
    subprocess.run(
        ["cargo", "build", "--locked", "-q", "-p", "parget-testbed"], cwd=ROOT, check=True
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "parget-testbed")


class Testbed:
    """A running parget-testbed: URLs, the bytes it serves, its counters."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, binary: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [binary, "--port", "0", *args], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.base = self.process.stdout.readline().strip()
        if not self.base:
            raise RuntimeError(f"parget-testbed {args} did not start")

    def url(self, path: str, **query: Any) -> str:
        """``base + path``, with ``query`` as its query string."""
        return self.base + path + ("?" + urllib.parse.urlencode(query, doseq=True, quote_via=urllib.parse.quote) if query else "")

    def body(self, url: str) -> bytes:
        """What the server sends for ``url``, fetched with urllib (not parget)."""
        with urllib.request.urlopen(url) as response:
            return bytes(response.read())

    def sha256(self, url: str) -> str:
        return hashlib.sha256(self.body(url)).hexdigest()

    def stats(self) -> Dict[str, Any]:
        with urllib.request.urlopen(self.base + "/api/stats") as response:
            return dict(json.load(response))

    def path_stats(self, path: str) -> Dict[str, int]:
        return dict(self.stats()["per_path"].get(path, {"requests": 0, "body_bytes": 0, "range_requests": 0}))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


@pytest.fixture(scope="session")
def binary() -> str:
    return testbed_binary()


@pytest.fixture(scope="session")
def testbed(binary: str) -> Iterator[Testbed]:
    """One server for the whole session (tests use distinct paths)."""
    server = Testbed(binary)
    yield server
    server.stop()


@pytest.fixture
def start_testbed(binary: str) -> Iterator[Callable[..., Testbed]]:
    """Starts servers of their own (clean counters, special flags)."""
    started: List[Testbed] = []

    def start(*args: str) -> Testbed:
        server = Testbed(binary, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def python_env() -> Dict[str, str]:
    """The environment for a child Python that imports parget."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


PYTHON = sys.executable
