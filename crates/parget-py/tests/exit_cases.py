"""Not a test: programs that end while parget still works, each run as a
child process by tests/test_shutdown.py (``python exit_cases.py CASE BASE OUT``).
Each prints what it did and then lets the interpreter exit; a crash at exit
(abort, segfault, "Fatal Python error") shows as the child's return code.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Iterator, Tuple

import parget


def slow_source(base: str, out: str) -> Iterator[Tuple[str, str]]:
    """A generator that blocks between items (a thread of the runtime waits
    in it, wanting the GIL back, when the interpreter exits)."""
    for i in range(1000):
        time.sleep(0.05)
        yield f"{base}/exit/c{i}?size=1000", f"{out}/c{i}"


async def source_timed_out(base: str, out: str) -> None:
    async def run() -> None:
        async for _ in parget.adownload_many(slow_source(base, out)):
            pass

    try:
        await asyncio.wait_for(run(), 1.0)
    except asyncio.TimeoutError:
        print("timed out, exiting")


async def source_left(base: str, out: str) -> None:
    seen = 0
    async for _ in parget.adownload_many(slow_source(base, out)):
        seen += 1
        if seen == 3:
            break
    print("left after", seen)


def daemon_source(base: str, out: str) -> None:
    thread = threading.Thread(
        target=lambda: parget.download_many(slow_source(base, out)), daemon=True
    )
    thread.start()
    time.sleep(0.5)
    print("main returns")


async def many_done(base: str, out: str) -> None:
    files = [(f"{base}/exit/m{i}?size=2000", f"{out}/m{i}") for i in range(20)]
    count = 0
    async for result in parget.adownload_many(files):
        count += result.ok
    print("done", count)


async def one_timed_out(base: str, out: str) -> None:
    try:
        await asyncio.wait_for(
            parget.adownload(f"{base}/exit/big?size=3000000&rate=1000000", f"{out}/big"), 0.5
        )
    except asyncio.TimeoutError:
        print("timed out, exiting")


async def many_timed_out(base: str, out: str) -> None:
    files = [(f"{base}/exit/t{i}?size=3000000&rate=1000000", f"{out}/t{i}") for i in range(8)]

    async def run() -> None:
        async for _ in parget.adownload_many(files):
            pass

    try:
        await asyncio.wait_for(run(), 0.5)
    except asyncio.TimeoutError:
        print("timed out, exiting")


if __name__ == "__main__":
    case, base, out = sys.argv[1:4]
    if case == "daemon_source":
        daemon_source(base, out)
    else:
        asyncio.run(globals()[case](base, out))
