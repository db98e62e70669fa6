"""Download every endpoint behind a paginated API while paging it.

POST /api/list_files with {"start", "per_page"} answers a JSON list of
endpoint paths and a header `More: true|false`. The pages are an async
iterator; adownload_many reads it only as download slots free up, so
downloads run while later pages are being asked for.

    python paginated.py http://127.0.0.1:PORT out/
"""

import asyncio, json, sys, urllib.request
from pathlib import Path

import parget


def page(base: str, start: int, per_page: int):
    body = json.dumps({"start": start, "per_page": per_page}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{base}/api/list_files", data=body)) as r:
        return json.load(r), r.headers["More"] == "true"


async def endpoints(base: str, out: Path, per_page: int = 5):
    start, more = 0, True
    while more:
        paths, more = await asyncio.to_thread(page, base, start, per_page)
        for path in paths:
            yield base + path, out / path.rsplit("/", 1)[-1]
        start += len(paths)
        more = more and bool(paths)


async def main(base: str, out: str) -> int:
    Path(out).mkdir(parents=True, exist_ok=True)
    failed = 0
    async for result in parget.adownload_many(endpoints(base, Path(out)), concurrency=64):
        failed += result.error is not None
        print(result.path, result.error or "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
