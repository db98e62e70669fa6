#!/usr/bin/env python3
"""The seed's asyncio/aiohttp client for the paginated listing API.

Written the way ../shared/seeds/001_5a5f72e399808b7c.txt describes
`asyncio_download.py`: an async generator walks the pages one after the other
(`POST /api/list_files` with `start` and `per_page`, until the `More` header
says `false`), and each endpoint it yields is downloaded at once in its own
task, so downloads overlap the discovery but the paging itself is serial.

Usage: aiohttp_paginated.py BASE_URL OUT_DIR
Prints how many endpoints were fetched; exit status 1 on any failure.
"""

import asyncio
import os
import sys

import aiohttp

PER_PAGE = 5


async def get_endpoints(session, base):
    """Yields endpoint paths page by page until More: false."""
    start = 0
    more = True
    while more:
        async with session.post(
            base + "/api/list_files", data={"start": start, "per_page": PER_PAGE}
        ) as response:
            response.raise_for_status()
            more = response.headers.get("More", "false").lower() == "true"
            page = await response.json(content_type=None)
        for endpoint in page:
            yield endpoint
        if not page:
            break
        start += len(page)


async def download(session, base, endpoint, out_dir):
    async with session.get(base + endpoint) as response:
        response.raise_for_status()
        body = await response.read()
    name = endpoint.rstrip("/").rsplit("/", 1)[-1]
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(body)


async def main(base, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    async with aiohttp.ClientSession() as session:
        tasks = []
        async for endpoint in get_endpoints(session, base):
            tasks.append(asyncio.ensure_future(download(session, base, endpoint, out_dir)))
        results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [r for r in results if isinstance(r, Exception)]
    print(f"fetched {len(results) - len(failed)} endpoints, {len(failed)} failed")
    for error in failed[:3]:
        print(f"error: {error!r}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1].rstrip("/"), sys.argv[2])))
