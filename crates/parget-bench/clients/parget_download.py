#!/usr/bin/env python3
"""parget from Python, called the way its README shows.

A list goes to `parget.download_many` (one `parget.Request` per line, with
the line's SHA-256 as `expected_digests` when it has one: the bench
gives it where the CLI row verifies, the big file), a list of one file to
`parget.download`; nothing is tuned but the number of downloads at once.

Usage: parget_download.py LIST OUT_DIR [--concurrency N]
LIST holds one download a line: URL, TAB, file name[, TAB, SHA-256 hex].
Exit status 1 on any failure.
"""

import argparse
import os
import sys

import parget


def read_list(path):
    entries = []
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0]:
                entries.append((fields[0], fields[1], fields[2] if len(fields) > 2 else None))
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("list")
    parser.add_argument("out")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    entries = read_list(args.list)

    def expected(sha):
        return {"sha256": sha} if sha else None

    if len(entries) == 1:
        url, name, sha = entries[0]
        try:
            parget.download(url, os.path.join(args.out, name), expected_digests=expected(sha))
        except parget.DownloadError as e:
            print(f"parget: {e}", file=sys.stderr)
            return 1
        return 0
    requests = [
        parget.Request(url, os.path.join(args.out, name), expected_digests=expected(sha))
        for url, name, sha in entries
    ]
    results = parget.download_many(requests, concurrency=args.concurrency)
    failed = [r for r in results if not r.ok]
    print(f"fetched {len(results) - len(failed)} files, {len(failed)} failed")
    for r in failed[:3]:
        print(f"error: {r.error}", file=sys.stderr)
    return 1 if failed or len(results) != len(entries) else 0


if __name__ == "__main__":
    sys.exit(main())
