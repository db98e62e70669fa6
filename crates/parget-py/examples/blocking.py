"""Blocking downloads: one file with a header, its SHA-256 computed while it
streams; the same file checked and kept; then a list of files and a group
(a package and its signature) in one call, a failure as a result.

    python blocking.py http://127.0.0.1:PORT out/     # parget-testbed's URL
"""

import sys
from pathlib import Path

import parget

base, out = sys.argv[1], Path(sys.argv[2])

# One file: a header sent with each request, its SHA-256 computed in flight.
first = parget.download(f"{base}/iso/a.iso?size=3000000&bearer=t0k3n", out / "a.iso",
                        headers={"Authorization": "Bearer t0k3n"}, digests=("sha256",))
print(first.size, first.digests["sha256"], first.headers["Content-Length"], first.final_url)

# With its digest known, the file in place is verified and kept, not fetched.
again = parget.download(first.url, out / "a.iso", headers={"Authorization": "Bearer t0k3n"},
                        expected_digests=first.digests)
print("skipped:", again.skipped)

# Files and a group in one call; a group is one result once all its members
# ended (policy="cancel": a failed member stops the others, nothing kept).
unit = parget.Group([(f"{base}/pool/p.deb?size=40000", out / "p.deb"),
                     parget.Request(f"{base}/pool/p.deb.asc?size=800", out / "p.deb.asc", expected_size=800)],
                    tag="p 1.0")
files = [(f"{base}/pool/f{i}?size={1000 * i}", out / f"f{i}") for i in range(1, 9)]
results = parget.download_many([*files, unit, (f"{base}/pool/gone?status=404", out / "gone")],
                               concurrency=16, digests=("sha256",))
for r in results:
    if isinstance(r, parget.GroupResult):
        print("group", r.tag, "ok" if r.ok else [str(m.error) for m in r.results if m.error])
    elif r.error is not None:
        print("failed:", r.error)
