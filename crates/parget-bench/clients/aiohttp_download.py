#!/usr/bin/env python3
"""A list of files with aiohttp, written the way its users write it.

One `ClientSession` whose connector allows `--concurrency` connections, a
task per file under a semaphore of the same size, each body streamed to
its file in 1 MiB chunks (`response.content.iter_chunked`), the tasks
gathered at the end. A list of one file is the same code with one task.

Usage: aiohttp_download.py LIST OUT_DIR [--concurrency N]
LIST holds one download a line: URL, TAB, file name[, TAB, SHA-256 hex
(ignored: aiohttp checks no digest)]. Exit status 1 on any failure.
"""

import argparse
import asyncio
import os
import sys

import aiohttp

CHUNK = 1 << 20


def read_list(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t")[:2] for line in f if line.strip()]


async def fetch(session, semaphore, url, path):
    async with semaphore:
        async with session.get(url) as response:
            response.raise_for_status()
            with open(path, "wb") as f:
                async for chunk in response.content.iter_chunked(CHUNK):
                    f.write(chunk)


async def main(list_path, out, concurrency):
    entries = read_list(list_path)
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(
            *(fetch(session, semaphore, url, os.path.join(out, name)) for url, name in entries),
            return_exceptions=True,
        )
    failed = [r for r in results if isinstance(r, BaseException)]
    print(f"fetched {len(results) - len(failed)} files, {len(failed)} failed")
    for error in failed[:3]:
        print(f"error: {error!r}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("list")
    parser.add_argument("out")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.list, args.out, args.concurrency)))
