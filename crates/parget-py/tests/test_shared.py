"""The module functions `download` and `adownload` share a downloader per
set of options: a loop of calls reuses its connections, and callers'
threads are not held to a concurrency limit they never set."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path
from typing import Callable, List

import pytest

import parget
from conftest import Testbed


def test_a_loop_of_downloads_reuses_one_connection(start_testbed: Callable[..., Testbed], tmp_path: Path) -> None:
    server = start_testbed()
    urls = [server.url(f"/shared/loop/{n}", size=1000 + n) for n in range(10)]
    for n, url in enumerate(urls):
        assert parget.download(url, tmp_path / str(n)).size == 1000 + n
    # parget's one connection, and the one asking for the stats.
    assert server.stats()["connections"] == 2
    for n, url in enumerate(urls):
        assert (tmp_path / str(n)).read_bytes() == server.body(url)


def test_other_options_get_another_downloader(start_testbed: Callable[..., Testbed], tmp_path: Path) -> None:
    server = start_testbed()
    parget.download(server.url("/shared/a", size=10), tmp_path / "a")
    parget.download(server.url("/shared/b", size=10), tmp_path / "b", retries=2)
    parget.download(server.url("/shared/c", size=10), tmp_path / "c", retries=2)
    parget.download(server.url("/shared/d", size=10), tmp_path / "d")
    # Two downloaders' connections, and the one asking for the stats.
    assert server.stats()["connections"] == 3
    # Options that do not hash still work, on a downloader of their own.
    result = parget.download(server.url("/shared/e", size=10), tmp_path / "e", ca_certificate=[])
    assert result.size == 10


def test_threads_are_not_held_to_a_concurrency_limit(start_testbed: Callable[..., Testbed], tmp_path: Path) -> None:
    # 24 threads, more than a downloader's default concurrency of 16, each
    # downloading one slow file: all of them stream at once.
    server = start_testbed("--rate", "200000")
    threads = 24
    start = threading.Barrier(threads)
    sizes: List[int] = []

    def fetch(n: int) -> None:
        start.wait()
        sizes.append(parget.download(server.url(f"/shared/thread/{n}", size=200_000), tmp_path / str(n)).size)

    running = [threading.Thread(target=fetch, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    assert sizes == [200_000] * threads
    assert server.stats()["peak_connections"] >= threads


def test_adownload_shares_across_event_loops(start_testbed: Callable[..., Testbed], tmp_path: Path) -> None:
    server = start_testbed()
    urls = [server.url(f"/shared/async/{n}", size=500 + n) for n in range(3)]
    for n, url in enumerate(urls):
        assert asyncio.run(parget.adownload(url, tmp_path / str(n))).size == 500 + n
    # One connection for the three loops, and the one asking for the stats.
    assert server.stats()["connections"] == 2
    for n, url in enumerate(urls):
        assert (tmp_path / str(n)).read_bytes() == server.body(url)


def test_a_child_forked_while_the_cache_was_locked_still_downloads(
    start_testbed: Callable[..., Testbed], tmp_path: Path
) -> None:
    # Another thread of the parent holding the cache's lock at the fork:
    # the child must not wait for a release that never comes there.
    server = start_testbed()
    parget.download(server.url("/shared/fork/parent", size=10), tmp_path / "parent")
    with parget._shared_lock:
        pid = os.fork()
        if pid == 0:  # the child
            status = 1
            try:
                signal.alarm(120)  # a hang becomes a failure, not a stuck run
                result = parget.download(server.url("/shared/fork/child", size=20), tmp_path / "child")
                status = 0 if result.size == 20 else 1
            finally:
                os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert (tmp_path / "child").read_bytes() == server.body(server.url("/shared/fork/child", size=20))


def test_a_changed_proxy_environment_gets_another_downloader(
    start_testbed: Callable[..., Testbed], tmp_path: Path, monkeypatch: "pytest.MonkeyPatch"
) -> None:
    server = start_testbed()
    parget.download(server.url("/shared/env/a", size=10), tmp_path / "a")
    # A proxy that is not there: a downloader built before would not use it.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "")
    with pytest.raises(parget.DownloadError, match="proxy"):
        parget.download(server.url("/shared/env/b", size=10), tmp_path / "b", retries=0)
    monkeypatch.delenv("http_proxy")
    assert parget.download(server.url("/shared/env/c", size=10), tmp_path / "c", retries=0).size == 10


def test_wait_for_lock_calls_wait_for_each_other(start_testbed: Callable[..., Testbed], tmp_path: Path) -> None:
    # Two threads writing one destination: the second waits for the
    # first, then finds the file in place, as two processes would.
    server = start_testbed("--rate", "200000")
    url = server.url("/shared/lock", size=200_000)
    results: List[parget.DownloadResult] = []
    start = threading.Barrier(2)

    def fetch() -> None:
        start.wait()
        results.append(parget.download(url, tmp_path / "f", wait_for_lock=True))

    running = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    assert len(results) == 2 and all(r.ok for r in results), results
    assert sorted(r.skipped for r in results) == [False, True]
    assert (tmp_path / "f").read_bytes() == server.body(url)


@pytest.mark.parametrize("name", parget._parget.PROXY_VARIABLES)
def test_every_proxy_variable_the_engine_reads_keys_the_shared_downloaders(
    name: str, monkeypatch: "pytest.MonkeyPatch"
) -> None:
    # The key is built from the engine's own list, so a variable the
    # engine reads can never be missing from it.
    monkeypatch.delenv(name, raising=False)
    before = parget._shared_downloader({})
    monkeypatch.setenv(name, "http://127.0.0.1:9")
    assert parget._shared_downloader({}) is not before
    monkeypatch.delenv(name)
    assert parget._shared_downloader({}) is before


def test_the_proxy_variables_are_the_engines_and_leave_out_http_proxy() -> None:
    assert parget._PROXY_VARIABLES == parget._parget.PROXY_VARIABLES
    assert isinstance(parget._parget.PROXY_VARIABLES, tuple)
    assert "https_proxy" in parget._PROXY_VARIABLES and "no_proxy" in parget._PROXY_VARIABLES
    # Set by CGI servers from a request's `Proxy:` header (httpoxy).
    assert "HTTP_PROXY" not in parget._PROXY_VARIABLES
