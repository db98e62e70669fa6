"""Ray Data: a CSV list of URLs (a `url` column, optional `sha256` and
`size`) to files, two workers with one parget downloader each, and a JSON
line per URL with its path, size, SHA-256 and error.

    python ray_pipeline.py urls.csv out/ results.jsonl
"""

import json
import os
import sys

import ray

import parget.ray

urls, report = sys.argv[1], sys.argv[3]
out = os.path.abspath(sys.argv[2])  # the workers resolve paths in their own working directory

ray.init(num_cpus=2)  # a local instance; on a cluster: ray.init(address="auto")

results = ray.data.read_csv(urls).map_batches(
    parget.ray.Downloader,                     # one per worker, its pool kept across batches
    fn_constructor_kwargs={"dest_dir": out, "concurrency": 32, "retries": 2},
    concurrency=2,                             # two workers,
    num_cpus=0.5,                              # mostly waiting on the network: CPU left for the read
    batch_size=100,
)

failed = 0
with open(report, "w") as f:
    for row in results.iter_rows():            # path, size, sha256, error for every URL
        failed += row["error"] is not None
        f.write(json.dumps({k: row[k] for k in ("url", "path", "size", "sha256", "error")}) + "\n")
print(f"{failed} failed")
