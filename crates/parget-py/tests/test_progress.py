"""Progress: per-download and total bytes, on Python's thread, ~10 a second."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import parget
from conftest import Testbed
from parget.tqdm import TqdmProgress

SIZE = 400_000


def check_events(events: List[Tuple[float, int, parget.ProgressEvent]], total: int) -> None:
    assert len(events) >= 3, "events while the download ran"
    assert {thread for _, thread, _ in events} == {threading.get_ident()}
    times = [t for t, _, _ in events]
    # Never faster than one per interval (the last one, at the end, may be
    # sooner): batched, never per chunk.
    gaps = [b - a for a, b in zip(times[:-1], times[1:-1])]
    assert all(gap >= 0.09 for gap in gaps), gaps
    received = [e.received for _, _, e in events]
    assert received == sorted(received)
    last = events[-1][2]
    assert last.received == total
    assert last.total == total
    assert last.active == 0


def test_blocking_progress(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/progress/blocking", size=SIZE, rate=400_000)
    events: List[Tuple[float, int, parget.ProgressEvent]] = []
    running: List[parget.FileProgress] = []

    def on_progress(event: parget.ProgressEvent) -> None:
        events.append((time.monotonic(), threading.get_ident(), event))
        running.extend(event.downloads)

    parget.download(url, tmp_path / "f", split=1, on_progress=on_progress)
    check_events(events, SIZE)
    assert events[-1][2].finished == 1
    assert running and all(d.url == url and d.path == str(tmp_path / "f") for d in running)
    assert all(d.total == SIZE and 0 <= d.received <= SIZE for d in running)


def test_progress_totals_over_many_downloads(testbed: Testbed, tmp_path: Path) -> None:
    requests = [(testbed.url(f"/progress/many{i}", size=50_000, rate=100_000), tmp_path / f"m{i}") for i in range(6)]
    requests.append((testbed.url("/progress/many-missing", status=404), tmp_path / "missing"))
    events: List[parget.ProgressEvent] = []
    parget.download_many(requests, concurrency=3, retries=0, on_progress=events.append)
    assert max(e.active for e in events) <= 3
    last = events[-1]
    assert (last.finished, last.failed, last.received, last.total) == (7, 1, 300_000, 300_000)


@pytest.mark.asyncio
async def test_async_progress_on_the_event_loop(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/progress/async", size=SIZE, rate=400_000)
    events: List[Tuple[float, int, parget.ProgressEvent]] = []
    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            await asyncio.sleep(0.01)
            beats += 1

    beat = asyncio.ensure_future(heartbeat())
    await parget.adownload(
        url,
        tmp_path / "f",
        split=1,
        on_progress=lambda e: events.append((time.monotonic(), threading.get_ident(), e)),
    )
    beat.cancel()
    check_events(events, SIZE)
    # The loop kept running other tasks meanwhile.
    assert beats >= 10


def test_an_exception_in_the_callback_stops_the_download(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/progress/raises", size=4_000_000, rate=400_000)

    def on_progress(event: parget.ProgressEvent) -> None:
        if event.received:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        parget.download(url, tmp_path / "f", split=1, on_progress=on_progress)
    assert not (tmp_path / "f").exists()


def test_tqdm_bar(testbed: Testbed, tmp_path: Path) -> None:
    requests = [(testbed.url(f"/progress/tqdm{i}", size=100_000, rate=400_000), tmp_path / f"t{i}") for i in range(3)]
    out = io.StringIO()
    with TqdmProgress(file=out, desc="files", mininterval=0) as bar:
        parget.download_many(requests, on_progress=bar)
        assert bar.bar.n == 300_000
        assert bar.bar.total == 300_000
    assert "files" in out.getvalue()
    assert "3 done" in out.getvalue()


@pytest.mark.asyncio
async def test_an_exception_in_an_async_callback_stops_the_download(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/progress/async-raises", size=4_000_000, rate=400_000)

    def on_progress(event: parget.ProgressEvent) -> None:
        if event.received:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        await parget.adownload(url, tmp_path / "f", split=1, on_progress=on_progress)
    with pytest.raises(RuntimeError, match="enough"):
        async for _ in parget.adownload_many([(url, tmp_path / "g")], split=1, on_progress=on_progress):
            pass
    assert not (tmp_path / "f").exists() and not (tmp_path / "g").exists()


def test_two_calls_on_one_downloader_see_only_their_own_downloads(testbed: Testbed, tmp_path: Path) -> None:
    downloader = parget.Downloader(split=1)
    mine = [(testbed.url(f"/progress/calls/a{i}", size=150_000, rate=300_000), tmp_path / f"a{i}") for i in range(2)]
    theirs = [(testbed.url(f"/progress/calls/b{i}", size=100_000, rate=200_000), tmp_path / f"b{i}") for i in range(3)]
    events: Dict[str, List[parget.ProgressEvent]] = {"a": [], "b": []}

    def run(name: str, requests: List[Tuple[str, Path]]) -> None:
        downloader.download_many(requests, on_progress=events[name].append)

    thread = threading.Thread(target=run, args=("b", theirs))
    thread.start()
    run("a", mine)
    thread.join()
    for name, requests in (("a", mine), ("b", theirs)):
        urls = {url for url, _ in requests}
        seen = {d.url for e in events[name] for d in e.downloads}
        assert seen and seen <= urls, (name, seen)
        last = events[name][-1]
        assert last.finished == len(requests) and last.active == 0
        assert last.received == last.total == sum(Path(p).stat().st_size for _, p in requests)


def test_progress_entries_carry_the_download_s_id_and_tag(testbed: Testbed, tmp_path: Path) -> None:
    downloader = parget.Downloader(split=1)
    url = testbed.url("/progress/ids", size=SIZE, rate=400_000)
    entries: List[parget.FileProgress] = []
    (result,) = downloader.download_many(
        [parget.Request(url, tmp_path / "f", tag=("row", 17))],
        on_progress=lambda e: entries.extend(e.downloads),
    )
    assert entries
    assert {(d.id, d.tag) for d in entries} == {(result.id, ("row", 17))}
    assert result.tag == ("row", 17)


def test_a_later_call_for_the_same_destination_has_its_own_progress(testbed: Testbed, tmp_path: Path) -> None:
    # The first call stops half-way (its callback raises) and the second
    # resumes the same destination: each call's events are its own, by the
    # engine's download id, whatever the destination.
    downloader = parget.Downloader(split=1)
    url = testbed.url("/progress/same-destination", size=SIZE, rate=400_000)
    first: List[parget.ProgressEvent] = []

    def stop(event: parget.ProgressEvent) -> None:
        first.append(event)
        if event.received > 100_000:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        downloader.download(url, tmp_path / "f", on_progress=stop)
    second: List[parget.ProgressEvent] = []
    result = downloader.download(url, tmp_path / "f", on_progress=second.append)
    first_ids = {d.id for e in first for d in e.downloads}
    second_ids = {d.id for e in second for d in e.downloads}
    assert second_ids == {result.id} and not first_ids & second_ids
    assert second[-1].finished == 1 and second[-1].active == 0 and second[-1].failed == 0
    assert (tmp_path / "f").stat().st_size == SIZE
