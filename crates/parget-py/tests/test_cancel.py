"""Cancellation per call: Ctrl-C, an exception or a cancelled task stops
that call's downloads only, each flushing what it received into its
`.part` file; other calls on the same downloader go on."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Callable, Dict, List

import pytest

import parget
from conftest import Testbed


def check_part(server: Testbed, path: str, size: int, part: Path, at_least: int) -> bytes:
    """The `.part` file holds a right prefix of the served bytes, at least
    `at_least` of them."""
    kept = part.read_bytes()
    assert len(kept) >= at_least, (len(kept), at_least)
    assert kept == server.body(server.url(path, size=size))[: len(kept)]
    return kept


CHILD = textwrap.dedent(
    """
    import sys, threading
    import parget

    url_a, path_a, url_b, path_b = sys.argv[1:5]
    downloader = parget.Downloader(split=1)
    other = {}

    def run_other():
        try:
            other["size"] = downloader.download(url_b, path_b).size
        except BaseException as e:
            other["error"] = repr(e)

    thread = threading.Thread(target=run_other)
    thread.start()

    def on_progress(event):
        if event.received >= 300_000 and not getattr(on_progress, "said", False):
            on_progress.said = True
            print("receiving", event.received, flush=True)

    try:
        downloader.download(url_a, path_a, on_progress=on_progress)
        print("completed", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    thread.join()
    print("other", other, flush=True)
    """
)


def test_ctrl_c_stops_only_the_interrupted_call(
    start_testbed: Callable[..., Testbed], tmp_path: Path, python_env: Dict[str, str]
) -> None:
    server = start_testbed()
    # 5 s at its rate: an ignored Ctrl-C shows as "completed", not a hang.
    url_a = server.url("/cancel/ctrl-c", size=2_000_000, rate=400_000)
    # 3 s: still running when the other call is interrupted.
    url_b = server.url("/cancel/other", size=1_500_000, rate=500_000)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url_a, str(tmp_path / "a"), url_b, str(tmp_path / "b")],
        stdout=subprocess.PIPE,
        text=True,
        env=python_env,
    )
    assert child.stdout is not None
    said, received = child.stdout.readline().split()
    assert said == "receiving"
    child.send_signal(signal.SIGINT)
    rest = child.stdout.read()
    assert child.wait() == 0, rest
    assert rest.splitlines() == ["interrupted", "other {'size': 1500000}"], rest
    # The other thread's download, on the same downloader, completed.
    assert (tmp_path / "b").read_bytes() == server.body(server.url("/cancel/other", size=1_500_000))
    # The interrupted one kept what it had received when it was
    # interrupted (less than one write buffer: flushed by the cancel).
    assert not (tmp_path / "a").exists()
    check_part(server, "/cancel/ctrl-c", 2_000_000, tmp_path / "a.part", int(received))


def test_an_exception_in_one_call_leaves_another_thread_s_call_running(testbed: Testbed, tmp_path: Path) -> None:
    downloader = parget.Downloader(split=1)
    other: Dict[str, object] = {}
    other_url = testbed.url("/cancel/thread-other", size=1_200_000, rate=600_000)

    def run_other() -> None:
        other["result"] = downloader.download(other_url, tmp_path / "other")

    thread = threading.Thread(target=run_other)
    thread.start()
    seen: List[int] = []

    def on_progress(event: parget.ProgressEvent) -> None:
        if event.received >= 200_000:
            seen.append(event.received)
            raise RuntimeError("stop this one")

    with pytest.raises(RuntimeError, match="stop this one"):
        downloader.download(
            testbed.url("/cancel/thread-mine", size=2_000_000, rate=400_000), tmp_path / "mine", on_progress=on_progress
        )
    thread.join()
    result = other["result"]
    assert isinstance(result, parget.DownloadResult) and result.size == 1_200_000
    assert (tmp_path / "other").read_bytes() == testbed.body(testbed.url("/cancel/thread-other", size=1_200_000))
    assert not (tmp_path / "mine").exists()
    check_part(testbed, "/cancel/thread-mine", 2_000_000, tmp_path / "mine.part", seen[0])


async def wait_for(condition: Callable[[], object]) -> None:
    while not condition():
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_a_cancelled_task_keeps_the_right_bytes_and_another_task_goes_on(
    start_testbed: Callable[..., Testbed], tmp_path: Path
) -> None:
    server = start_testbed()
    downloader = parget.Downloader(split=1)
    events: List[parget.ProgressEvent] = []
    url = server.url("/cancel/task", size=1_000_000, rate=250_000)
    doomed = asyncio.ensure_future(downloader.adownload(url, tmp_path / "doomed", on_progress=events.append))
    other = asyncio.ensure_future(
        downloader.adownload(server.url("/cancel/task-other", size=1_000_000, rate=500_000), tmp_path / "other")
    )
    await wait_for(lambda: events and events[-1].received >= 200_000)
    received = events[-1].received
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    # Once the cancelled task has ended, its bytes are on disk: a resume
    # may start right away. (Under one write buffer had arrived.)
    assert not (tmp_path / "doomed").exists()
    kept = check_part(server, "/cancel/task", 1_000_000, tmp_path / "doomed.part", received)
    assert len(kept) < 1_000_000
    result = await other
    assert result.size == 1_000_000
    assert (tmp_path / "other").read_bytes() == server.body(server.url("/cancel/task-other", size=1_000_000))
    # The resume asks for the rest only: one Range request.
    before = server.path_stats("/cancel/task")["range_requests"]
    resumed = await downloader.adownload(url, tmp_path / "doomed")
    assert resumed.size == 1_000_000
    assert server.path_stats("/cancel/task")["range_requests"] == before + 1
    assert (tmp_path / "doomed").read_bytes() == server.body(server.url("/cancel/task", size=1_000_000))


@pytest.mark.asyncio
async def test_cancelling_one_iterating_task_leaves_another_s_downloads(
    start_testbed: Callable[..., Testbed], tmp_path: Path
) -> None:
    server = start_testbed()
    downloader = parget.Downloader(split=1)
    doomed_requests = [(server.url(f"/cancel/many{i}", size=2_560_000, rate=256_000), tmp_path / f"m{i}") for i in range(3)]
    kept_requests = [(server.url(f"/cancel/kept{i}", size=400_000, rate=400_000), tmp_path / f"k{i}") for i in range(3)]
    started = asyncio.Event()

    async def consume(requests: List[parget.RequestLike], signal_start: bool) -> List[parget.DownloadResult]:
        def on_progress(event: parget.ProgressEvent) -> None:
            if signal_start and event.active == 3 and all(d.received > 0 for d in event.downloads):
                started.set()

        return [r async for r in downloader.adownload_many(requests, on_progress=on_progress)]

    doomed = asyncio.ensure_future(consume(list(doomed_requests), True))
    kept = asyncio.ensure_future(consume(list(kept_requests), False))
    await started.wait()
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    for i in range(3):
        assert not (tmp_path / f"m{i}").exists()
        check_part(server, f"/cancel/many{i}", 2_560_000, tmp_path / f"m{i}.part", 1)
    results = await kept
    assert len(results) == 3 and all(r.ok for r in results), [r.error for r in results]
    for url, path in kept_requests:
        assert Path(path).stat().st_size == 400_000


def slow_list(testbed: Testbed, tmp_path: Path, name: str) -> List[parget.Item]:
    """Twelve slow files and a group of two, for a downloader of two slots."""
    files: List[parget.Item] = [
        (testbed.url(f"/cancel/{name}{i}", size=400_000, rate=200_000), tmp_path / f"{name}{i}") for i in range(12)
    ]
    members = [(testbed.url(f"/cancel/{name}g{i}", size=10), tmp_path / f"{name}g{i}") for i in range(2)]
    return [*files, parget.Group(members, tag="g")]


def check_every_request_has_a_result(results: List[parget.Result], tmp_path: Path, name: str) -> None:
    singles = [r for r in results if isinstance(r, parget.DownloadResult)]
    groups = [r for r in results if isinstance(r, parget.GroupResult)]
    assert sorted(Path(r.path).name for r in singles) == sorted(f"{name}{i}" for i in range(12))
    assert len(groups) == 1 and groups[0].tag == "g" and len(groups[0]) == 2
    for result in [*singles, *groups[0].results]:
        if not result.ok:
            assert isinstance(result.error, parget.DownloadError)
            assert "cancelled" in str(result.error), result.error
    # Two slots: most never started, and came back cancelled all the same.
    unstarted = [r for r in singles if r.attempts == 0 and r.id == 0]
    assert len(unstarted) >= 8, results
    assert not groups[0].ok


def test_after_cancel_every_request_of_a_list_has_a_result(testbed: Testbed, tmp_path: Path) -> None:
    downloader = parget.Downloader(concurrency=2, retries=0)

    def on_progress(event: parget.ProgressEvent) -> None:
        if event.received > 0:
            downloader.cancel()

    results = downloader.download_many(slow_list(testbed, tmp_path, "b"), on_progress=on_progress)
    check_every_request_has_a_result(results, tmp_path, "b")


@pytest.mark.asyncio
async def test_after_cancel_every_request_of_a_list_has_an_async_result(testbed: Testbed, tmp_path: Path) -> None:
    downloader = parget.Downloader(concurrency=2, retries=0)

    def on_progress(event: parget.ProgressEvent) -> None:
        if event.received > 0:
            downloader.cancel()

    results = [r async for r in downloader.adownload_many(slow_list(testbed, tmp_path, "a"), on_progress=on_progress)]
    check_every_request_has_a_result(results, tmp_path, "a")


def test_a_downloader_as_a_context_manager_downloads_and_closes(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/ctx/small", size=100_000)
    with parget.Downloader() as downloader:
        result = downloader.download(url, tmp_path / "small")
    assert result.size == 100_000
    assert (tmp_path / "small").read_bytes() == testbed.body(url)
    # Closed, it still works, on a fresh pool.
    again = downloader.download(url, tmp_path / "again")
    assert (tmp_path / "again").read_bytes() == testbed.body(url)
    assert again.size == 100_000


@pytest.mark.asyncio
async def test_leaving_an_async_with_block_by_an_exception_cancels_its_downloads(
    testbed: Testbed, tmp_path: Path
) -> None:
    url = testbed.url("/ctx/slow", size=2_560_000, rate=256_000)
    events: List[parget.ProgressEvent] = []
    task = None
    with pytest.raises(RuntimeError, match="left early"):
        async with parget.Downloader(split=1, retries=0) as downloader:
            task = asyncio.ensure_future(
                downloader.adownload(url, tmp_path / "slow", on_progress=events.append)
            )
            while not (events and events[-1].received > 0):
                await asyncio.sleep(0.02)
            raise RuntimeError("left early")
    assert task is not None
    with pytest.raises(parget.DownloadError) as failed:
        await task
    assert "cancelled" in str(failed.value), failed.value
    assert not (tmp_path / "slow").exists()
    check_part(testbed, "/ctx/slow", 2_560_000, tmp_path / "slow.part", at_least=1)
