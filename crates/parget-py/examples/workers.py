"""Downloads in worker processes: each result, pickled, comes back to the
parent with its path, size and SHA-256.

    python workers.py http://127.0.0.1:PORT out/     # parget-testbed's URL
"""

import concurrent.futures
import sys
from pathlib import Path

import parget


def fetch(url: str, path: Path) -> parget.DownloadResult:
    return parget.download(url, path, digests="sha256")


if __name__ == "__main__":
    base, out = sys.argv[1], Path(sys.argv[2])
    urls = [f"{base}/pool/w{i}?size={1000 * i}" for i in range(1, 7)]
    paths = [out / f"w{i}" for i in range(1, 7)]
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        for result in pool.map(fetch, urls, paths):
            print(Path(result.path).name, result.size, result.digests["sha256"])
