"""Not a test: typical uses of the API, checked by `mypy --strict`
(tests/test_examples.py), so the annotations and the stub stay usable."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, List, Optional

import parget
from parget.tqdm import TqdmProgress


def blocking(url: str, out: Path) -> List[str]:
    result: parget.DownloadResult = parget.download(
        url, out / "a", expected_digests={"sha256": "00" * 32}, expected_size=3, split=4, retries=2
    )
    sha: Optional[str] = result.digests.get("sha256")
    requests: List[parget.RequestLike] = [(url, out / "b"), parget.Request(url, str(out / "c"))]
    with TqdmProgress(desc="x") as bar:
        results = parget.download_many(requests, concurrency=4, on_progress=bar)
    errors = [r.error for r in results if r.error is not None]
    for error in errors:
        if isinstance(error, parget.DigestValidationError):
            print(error.url, error.algorithm, error.expected, error.actual)
        elif isinstance(error, parget.HTTPStatusError):
            print(error.status)
    return [sha or "", *(str(e) for e in errors)]


async def asynchronous(url: str, out: Path) -> int:
    downloader = parget.Downloader(concurrency=8, per_host=4, ca_certificate=out / "ca.pem")

    async def source() -> AsyncIterator[parget.RequestLike]:
        yield url, out / "d"

    def on_progress(event: parget.ProgressEvent) -> None:
        print(event.received, event.total, [d.received for d in event.downloads])

    one = await downloader.adownload(url, out / "e", on_progress=on_progress)
    count = one.size
    async for result in downloader.adownload_many(source()):
        count += result.size
    async for result in parget.adownload_many([(url, out / "f")], timeout=5.0):
        count += result.size
    return count + (await parget.adownload(url, out / "g")).size


if __name__ == "__main__":
    asyncio.run(asynchronous("http://127.0.0.1/", Path(".")))
