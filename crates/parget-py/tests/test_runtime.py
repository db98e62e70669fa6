"""The runtime under Python: the GIL released, Ctrl-C, fork."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Dict

import pytest

import parget
from parget import _parget
from conftest import Testbed


def test_other_threads_run_during_a_blocking_download(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/runtime/gil", size=300_000, rate=300_000)
    done = threading.Event()
    spins = 0

    def spin() -> None:
        # Pure Python: it can only run while the download thread does not
        # hold the GIL.
        nonlocal spins
        while not done.is_set():
            spins += 1

    downloads_seen = []

    def on_progress(event: parget.ProgressEvent) -> None:
        downloads_seen.append(spins)

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        parget.download(url, tmp_path / "f", on_progress=on_progress)
    finally:
        done.set()
        thread.join()
    # The spinning thread made progress between progress events, i.e.
    # while the download was running, not only after it. (The last event
    # comes at the end, maybe right after the one before: not counted.)
    assert len(downloads_seen) >= 3
    steps = [b - a for a, b in zip(downloads_seen[:-1], downloads_seen[1:-1])]
    assert all(step > 1000 for step in steps), steps


CHILD = textwrap.dedent(
    """
    import signal, socket, sys, threading, time
    import parget

    url, path = sys.argv[1], sys.argv[2]

    # The moment SIGINT arrives, seen through Python's wakeup fd (written by
    # the C-level handler at once, whatever the main thread is doing).
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    arrived = []
    threading.Thread(target=lambda: (reader.recv(1), arrived.append(time.monotonic())), daemon=True).start()

    def on_progress(event):
        if event.received >= 300_000 and not arrived and not getattr(on_progress, "said", False):
            on_progress.said = True
            print("receiving", flush=True)

    try:
        parget.download(url, path, split=1, on_progress=on_progress)
        print("completed", flush=True)
    except KeyboardInterrupt:
        caught = time.monotonic()
        print(f"interrupted after {(caught - arrived[0]) * 1000:.0f} ms", flush=True)
        sys.exit(3)
    """
)


def test_ctrl_c_raises_keyboard_interrupt_and_keeps_the_part_file(
    testbed: Testbed, tmp_path: Path, python_env: Dict[str, str]
) -> None:
    # 5 s at its rate: an ignored Ctrl-C shows as "completed", not a hang.
    url = testbed.url("/runtime/ctrl-c", size=2_000_000, rate=400_000)
    destination = tmp_path / "big"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(destination)],
        stdout=subprocess.PIPE,
        text=True,
        env=python_env,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "receiving"
    # Let the child's callback return: the signal then finds it waiting
    # inside parget.download, with no Python code of its own running.
    time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    said = child.stdout.read()
    assert child.wait() == 3, said
    assert said.startswith("interrupted after "), said
    print(said)  # how long the interrupt took, for the record
    assert not destination.exists()
    part = destination.with_name("big.part")
    # What arrived is kept for resume (flushed when the call's downloads
    # were cancelled, though far less than one 1 MiB buffer had arrived) ...
    kept = part.stat().st_size
    assert kept >= 300_000
    # ... and a later download continues from it: with one Range request
    # (the interrupted one had none). The server counts an interrupted
    # response's bytes only once it notices the client left, so byte
    # counters would race here; the Range request does not.
    before = testbed.path_stats("/runtime/ctrl-c")
    result = parget.download(url, destination, split=1)
    after = testbed.path_stats("/runtime/ctrl-c")
    assert result.size == 2_000_000
    assert after["range_requests"] - before["range_requests"] == 1
    # (The bytes depend on the path and size only: fetched unthrottled.)
    assert destination.read_bytes() == testbed.body(testbed.url("/runtime/ctrl-c", size=2_000_000))


def test_a_forked_child_builds_its_own_runtime(testbed: Testbed, tmp_path: Path) -> None:
    downloader = parget.Downloader()
    downloader.download(testbed.url("/runtime/before-fork", size=1000), tmp_path / "parent")
    assert _parget.runtime_pid() == os.getpid()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            # A runtime copied from the parent has no threads: without a
            # fresh one this would never end. The alarm turns that into a
            # failure instead of a stuck test run.
            signal.alarm(120)
            result = downloader.download(testbed.url("/runtime/after-fork", size=2000), tmp_path / "child")
            again = parget.download(testbed.url("/runtime/after-fork2", size=10), tmp_path / "child2")
            ok = result.size == 2000 and again.size == 10 and _parget.runtime_pid() == os.getpid()
            os.write(write, b"ok" if ok else b"wrong")
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert said == b"ok"
    assert (tmp_path / "child").read_bytes() == testbed.body(testbed.url("/runtime/after-fork", size=2000))
    # The parent's runtime and downloader still work.
    assert _parget.runtime_pid() == os.getpid()
    downloader.download(testbed.url("/runtime/after-fork-parent", size=1000), tmp_path / "parent2")


def test_cancel_from_another_thread_keeps_the_part_file(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/runtime/cancel", size=2_000_000, rate=400_000)
    downloader = parget.Downloader(split=1)
    cancelled = threading.Event()

    def on_progress(event: parget.ProgressEvent) -> None:
        if event.received >= 200_000 and not cancelled.is_set():
            cancelled.set()
            threading.Thread(target=downloader.cancel).start()

    with pytest.raises(parget.DownloadError, match="cancelled"):
        downloader.download(url, tmp_path / "f", on_progress=on_progress)
    assert (tmp_path / "f.part").stat().st_size >= 200_000
    assert not (tmp_path / "f").exists()
    # The downloader works again afterwards, and resumes the file.
    result = downloader.download(url, tmp_path / "f")
    assert result.size == 2_000_000
    assert (tmp_path / "f").read_bytes() == testbed.body(testbed.url("/runtime/cancel", size=2_000_000))
