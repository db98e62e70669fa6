"""The asyncio API: adownload, adownload_many over every kind of source,
and cancellation through the task."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator, List, Tuple

import pytest

import parget
from conftest import Testbed


@pytest.mark.asyncio
async def test_adownload_verifies_and_reports(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/async/one", size=200_000)
    body = testbed.body(url)
    sha = hashlib.sha256(body).hexdigest()
    result = await parget.adownload(url, tmp_path / "one", expected_digests={"sha256": sha})
    assert result.digests == {"sha256": sha}
    assert result.size == len(body)
    assert (tmp_path / "one").read_bytes() == body


@pytest.mark.asyncio
async def test_adownload_raises_the_download_error(testbed: Testbed, tmp_path: Path) -> None:
    with pytest.raises(parget.HTTPStatusError) as caught:
        await parget.adownload(testbed.url("/async/gone", status=410), tmp_path / "f")
    assert caught.value.status == 410


@pytest.mark.asyncio
async def test_adownload_many_from_a_list(testbed: Testbed, tmp_path: Path) -> None:
    requests = [(testbed.url(f"/async/list{i}", size=500 + i), tmp_path / f"l{i}") for i in range(30)]
    requests.append((testbed.url("/async/list-missing", status=404), tmp_path / "missing"))
    results = [r async for r in parget.adownload_many(requests, concurrency=8, retries=0)]
    assert len(results) == 31
    failed = [r for r in results if r.error is not None]
    assert [r.path for r in failed] == [str(tmp_path / "missing")]
    assert isinstance(failed[0].error, parget.HTTPStatusError)
    for url, path in requests[:-1]:
        assert Path(path).read_bytes() == testbed.body(url)


@pytest.mark.asyncio
async def test_adownload_many_from_an_iterator(testbed: Testbed, tmp_path: Path) -> None:
    threads = set()

    def requests() -> Iterator[parget.Request]:
        for i in range(10):
            # The iterator may block: it runs off the event loop's thread.
            threads.add(threading.get_ident())
            yield parget.Request(testbed.url(f"/async/iter{i}", size=100), tmp_path / f"i{i}", expected_size=100)

    results = [r async for r in parget.adownload_many(requests())]
    assert sorted(os.path.basename(r.path) for r in results) == sorted(f"i{i}" for i in range(10))
    assert all(r.ok for r in results)
    assert threading.get_ident() not in threads


@pytest.mark.asyncio
async def test_adownload_many_from_an_async_iterator_pulled_as_slots_free_up(
    testbed: Testbed, tmp_path: Path
) -> None:
    loop_thread = threading.get_ident()
    on_loop = []
    ahead: List[int] = []

    async def requests() -> AsyncIterator[Tuple[str, Path]]:
        for i in range(8):
            await asyncio.sleep(0)  # a real coroutine: it runs on the event loop
            on_loop.append(threading.get_ident() == loop_thread)
            # Two slots: all but two of the items before this one have ended.
            ahead.append(i - sum((tmp_path / f"a{j}").exists() for j in range(i)))
            yield testbed.url(f"/async/aiter{i}", size=64 * 1024, rate=256 * 1024), tmp_path / f"a{i}"

    results = 0
    async for result in parget.adownload_many(requests(), concurrency=2):
        assert result.ok, result.error
        results += 1
    assert results == 8
    assert all(on_loop)
    assert len(ahead) == 8 and max(ahead) <= 2, ahead


@pytest.mark.asyncio
async def test_an_exception_in_an_async_source_propagates(testbed: Testbed, tmp_path: Path) -> None:
    async def requests() -> AsyncIterator[Tuple[str, Path]]:
        yield testbed.url("/async/before-error", size=10), tmp_path / "a"
        raise LookupError("page 2 failed")

    with pytest.raises(LookupError, match="page 2 failed"):
        async for _ in parget.adownload_many(requests()):
            pass


def slow(testbed: Testbed, name: str) -> str:
    """A file that takes ~10 s at its rate: long enough to be cancelled
    half-way, short enough that a broken cancel fails the test instead of
    hanging it."""
    return testbed.url(f"/async/{name}", size=2_560_000, rate=256_000)


async def wait_for(condition: Callable[[], object]) -> None:
    while not condition():
        await asyncio.sleep(0.02)


async def until_connection_gone(server: Testbed, path: str, destination: Path) -> None:
    """Waits until the server saw the download's connection close (only the
    stats request itself stays open), or the download completed (which a
    cancelled one must not)."""
    while server.stats()["open_connections"] > 1 and not destination.exists():
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_cancelling_the_task_cancels_the_download(
    start_testbed: Callable[..., Testbed], tmp_path: Path
) -> None:
    server = start_testbed()
    url = slow(server, "cancel-one")
    events: List[parget.ProgressEvent] = []
    task = asyncio.ensure_future(
        parget.adownload(url, tmp_path / "f", split=1, on_progress=events.append)
    )
    await wait_for(lambda: events and events[-1].received > 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until_connection_gone(server, "/async/cancel-one", tmp_path / "f")
    assert not (tmp_path / "f").exists()
    assert server.path_stats("/async/cancel-one")["body_bytes"] < 2_560_000


@pytest.mark.asyncio
async def test_cancelling_the_iterating_task_cancels_every_download(
    start_testbed: Callable[..., Testbed], tmp_path: Path
) -> None:
    server = start_testbed()
    requests = [(slow(server, f"cancel-many{i}"), tmp_path / f"m{i}") for i in range(3)]
    started = asyncio.Event()

    async def consume() -> None:
        def on_progress(event: parget.ProgressEvent) -> None:
            if event.active == 3 and all(d.received > 0 for d in event.downloads):
                started.set()

        async for _ in parget.adownload_many(requests, split=1, on_progress=on_progress):
            pass

    task = asyncio.ensure_future(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for i, (_, path) in enumerate(requests):
        await until_connection_gone(server, f"/async/cancel-many{i}", path)
        assert not path.exists()
        assert server.path_stats(f"/async/cancel-many{i}")["body_bytes"] < 2_560_000


@pytest.mark.asyncio
async def test_one_downloader_shares_its_pool_across_blocking_and_async_calls(
    start_testbed: Callable[..., Testbed], tmp_path: Path
) -> None:
    server = start_testbed()
    downloader = parget.Downloader(concurrency=4, per_host=4, retries=2, timeout=30.0)
    await downloader.adownload(server.url("/pool/a", size=1000), tmp_path / "a")
    await asyncio.get_running_loop().run_in_executor(
        None, lambda: downloader.download(server.url("/pool/b", size=1000), tmp_path / "b")
    )
    async for result in downloader.adownload_many([(server.url("/pool/c", size=1000), tmp_path / "c")]):
        assert result.ok
    downloader.download_many([(server.url("/pool/d", size=1000), tmp_path / "d")])
    # Four downloads one after the other over one kept-alive connection
    # (the other connection is this stats request's).
    assert server.stats()["connections"] == 2
    assert all((tmp_path / n).exists() for n in "abcd")
