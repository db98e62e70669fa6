#!/usr/bin/env python3
"""One file with hf_transfer, the way huggingface_hub calls it.

huggingface_hub's `http_get` hands a file to
`hf_transfer.download(url, filename, max_files=..., chunk_size=...)`: the
file is cut into `chunk_size` Range requests, `max_files` at once, each
written at its offset. This script does that one call and nothing else.

Usage: hf_transfer_download.py URL FILENAME [--max-files N] [--chunk-size BYTES]
Exit status 1 on any failure.
"""

import argparse
import sys

import hf_transfer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("filename")
    parser.add_argument("--max-files", type=int, default=16)
    # huggingface_hub's DOWNLOAD_CHUNK_SIZE.
    parser.add_argument("--chunk-size", type=int, default=10 * 1024 * 1024)
    args = parser.parse_args()
    try:
        hf_transfer.download(
            url=args.url,
            filename=args.filename,
            max_files=args.max_files,
            chunk_size=args.chunk_size,
        )
    except Exception as e:  # hf_transfer raises plain exceptions
        print(f"hf_transfer: {args.url}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
