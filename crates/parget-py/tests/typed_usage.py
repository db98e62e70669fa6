"""Not a test: typical uses of the API, checked by `mypy --strict`
(tests/test_examples.py), so the annotations and the stub stay usable."""

from __future__ import annotations

import asyncio
import types
from pathlib import Path
from typing import AsyncIterator, Dict, List, Optional

import parget
import parget.ray
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
    etags = [r.headers.get("etag", "") for r in results] + [r.final_url or "" for r in results]
    unit = parget.Group([(url, out / "p.deb"), (url, out / "p.deb.asc")], policy="finish", tag=3)
    mixed = parget.download_many([unit, (url, out / "x")], headers={"X-A": "1"}, digests=("sha256",))
    for item in mixed:
        if isinstance(item, parget.GroupResult):
            etags.extend(r.digests["sha256"] for r in item.results if item.ok)
        else:
            etags.append(item.headers.getall("link", [""])[0])
    for error in errors:
        if isinstance(error, parget.DigestValidationError):
            print(error.url, error.algorithm, error.expected, error.actual)
        elif isinstance(error, parget.HTTPStatusError):
            print(error.status)
    return [sha or "", *(str(e) for e in errors), *etags]


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

    async def units() -> AsyncIterator[parget.Item]:
        yield parget.Group([parget.Request(url, out / "h", headers=[("X-B", "2")], digests="md5")])

    async for item in downloader.adownload_many(units()):
        count += len(item) if isinstance(item, parget.GroupResult) else item.size
    async for result in parget.adownload_many([(url, out / "f")], timeout=5.0):
        count += result.size
    return count + (await parget.adownload(url, out / "g")).size


def validated(url: str, out: Path) -> List[Optional[str]]:
    # Any mapping, not only a dict; a result's error is the DownloadError.
    digests = types.MappingProxyType({"sha256": "00" * 32})
    one = parget.download(url, out / "m", expected_digests=digests)
    results = parget.download_many([parget.Request(url, out / "n", expected_digests=digests), (url, out / "o")])
    urls: List[Optional[str]] = [r.error.url for r in results if r.error is not None]
    return [one.url, *urls]


def ray_batches(url: str, out: Path) -> List[Optional[str]]:
    worker = parget.ray.Downloader(out, concurrency=4, retries=1, headers={"X-A": "1"})
    batch: Dict[str, List[object]] = {"url": [url], "path": ["a"]}
    done = worker(batch)
    names: List[str] = [parget.ray.default_path(url), *parget.ray.OUTPUT_COLUMNS]
    return [e if isinstance(e, str) else None for e in done["error"]] + list(names)


if __name__ == "__main__":
    asyncio.run(asynchronous("http://127.0.0.1/", Path(".")))
