#!/usr/bin/env python3
"""A list of files with requests and a thread pool, written the way its
users write it.

A `ThreadPoolExecutor` of `--concurrency` threads, one `requests.Session`
per thread (a session is not safe to share across threads, and keeps its
connections alive), each body streamed to its file in 1 MiB chunks
(`stream=True`, `iter_content`). A list of one file is the same code with
one task.

Usage: requests_download.py LIST OUT_DIR [--concurrency N]
LIST holds one download a line: URL, TAB, file name[, TAB, SHA-256 hex
(ignored: requests checks no digest)]. Exit status 1 on any failure.
"""

import argparse
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

CHUNK = 1 << 20
local = threading.local()


def read_list(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t")[:2] for line in f if line.strip()]


def session():
    if not hasattr(local, "session"):
        local.session = requests.Session()
    return local.session


def fetch(url, path):
    with session().get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        with open(path, "wb") as f:
            for chunk in response.iter_content(CHUNK):
                f.write(chunk)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("list")
    parser.add_argument("out")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    entries = read_list(args.list)
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [pool.submit(fetch, url, os.path.join(args.out, name)) for url, name in entries]
    failed = [f.exception() for f in futures if f.exception() is not None]
    print(f"fetched {len(futures) - len(failed)} files, {len(failed)} failed")
    for error in failed[:3]:
        print(f"error: {error!r}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
