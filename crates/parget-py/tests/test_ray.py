"""parget.ray.Downloader in Ray Data on a local Ray instance: a few hundred
testbed files through map_batches with two workers, every row and every
file checked.

Ray is installed by scripts/test.sh; without it these tests fail, unless
PARGET_SKIP_RAY=1 is set to leave them out on purpose.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List

import pytest

import parget.ray
from conftest import Testbed
from parget.ray import default_path
from test_batch import need

FILES = 300
"""Good URLs of the main run (small files: the run checks rows, not speed)."""


@pytest.fixture(scope="module")
def ray() -> Iterator[ModuleType]:
    ray = need("ray")
    need("ray.data")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        log_to_driver=False,
    )
    # No progress bars in the test log.
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def good_items(testbed: Testbed, prefix: str, count: int) -> List[Dict[str, Any]]:
    """Rows with a default path, every tenth with a path of its own and
    every seventh with its SHA-256 to check."""
    items = []
    for i in range(count):
        url = testbed.url(f"/ray/{prefix}/d{i % 10}/file.bin", size=200 + 37 * i)
        items.append(
            {
                "url": url,
                "path": f"given/{i}.bin" if i % 10 == 0 else None,
                "sha256": testbed.sha256(url) if i % 7 == 0 else None,
            }
        )
    return items


def failing_items(testbed: Testbed, prefix: str) -> List[Dict[str, Any]]:
    return [
        {"url": testbed.url(f"/ray/{prefix}/gone-{i}.bin", status=404), "path": None, "sha256": None}
        for i in range(3)
    ] + [
        {"url": testbed.url(f"/ray/{prefix}/wrong-{i}.bin", size=500), "path": None, "sha256": f"{i:02x}" * 32}
        for i in range(3)
    ]


def check_rows(testbed: Testbed, dest: Path, items: List[Dict[str, Any]], rows: List[Dict[str, Any]], good: int) -> None:
    """Every input row came back once; the good ones are on disk with the
    served bytes, the failing ones carry their error and left no file."""
    by_url = {row["url"]: row for row in rows}
    assert len(rows) == len(by_url) == len(items)
    for item in items[:good]:
        row = by_url[item["url"]]
        body = testbed.body(item["url"])
        assert row["error"] is None, row
        assert row["path"] == str(dest / (item["path"] or default_path(item["url"])))
        assert row["size"] == len(body)
        assert row["sha256"] == hashlib.sha256(body).hexdigest()
        assert Path(row["path"]).read_bytes() == body
    for item in items[good:]:
        row = by_url[item["url"]]
        assert row["size"] is None and row["sha256"] is None
        if "status=404" in item["url"]:
            assert row["error"] == f"{item['url']}: server answered HTTP 404"
        else:
            assert "sha256" in row["error"] and item["sha256"] in row["error"], row
        assert row["path"] == str(dest / default_path(item["url"]))
        assert not Path(row["path"]).exists()
    on_disk = [p for p in dest.rglob("*") if p.is_file() and not p.name.endswith(".part")]
    assert len(on_disk) == good


def test_the_ray_example_runs(
    start_testbed: Callable[..., Testbed], tmp_path: Path, python_env: Dict[str, str]
) -> None:
    """examples/ray_pipeline.py, as the README shows it, in a Ray of its own
    (this test runs before the module's instance starts)."""
    need("ray")
    server = start_testbed()
    good = [server.url(f"/example/{i % 4}/page.html", size=100 + i) for i in range(40)]
    gone = server.url("/example/gone.html", status=404)
    wrong = server.url("/example/wrong.html", size=10)
    csv = tmp_path / "urls.csv"
    rows = [f"{url}," for url in good] + [f"{gone},", f"{wrong},{'ab' * 32}"]
    csv.write_text("url,sha256\n" + "\n".join(rows) + "\n")
    out, report = tmp_path / "out", tmp_path / "results.jsonl"
    example = Path(__file__).resolve().parent.parent / "examples" / "ray_pipeline.py"
    done = subprocess.run(
        [sys.executable, str(example), str(csv), str(out), str(report)],
        capture_output=True,
        text=True,
        env=python_env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "2 failed"
    results = {r["url"]: r for r in map(json.loads, report.read_text().splitlines())}
    assert len(results) == 42
    for url in good:
        row = results[url]
        assert row["error"] is None and row["path"] == str(out / default_path(url))
        assert Path(row["path"]).read_bytes() == server.body(url)
        assert row["size"] == len(server.body(url)) and row["sha256"] == server.sha256(url)
    assert results[gone]["error"] == f"{gone}: server answered HTTP 404"
    assert "ab" * 32 in results[wrong]["error"] and results[wrong]["size"] is None
    assert not Path(results[gone]["path"]).exists() and not Path(results[wrong]["path"]).exists()


def test_map_batches_downloads_every_row(ray: ModuleType, testbed: Testbed, tmp_path: Path) -> None:
    items = good_items(testbed, "numpy", FILES) + failing_items(testbed, "numpy")
    dest = tmp_path / "out"
    started = time.monotonic()
    dataset = ray.data.from_items(items).map_batches(
        parget.ray.Downloader,
        fn_constructor_kwargs={"dest_dir": str(dest), "concurrency": 16, "retries": 1, "retry_wait": 0.1},
        concurrency=2,
        # Half a CPU each: two whole ones would hold both of ray.init's
        # CPUs and leave none for Ray Data's own tasks.
        num_cpus=0.5,
        batch_size=50,
    )
    rows = dataset.take_all()
    elapsed = time.monotonic() - started
    check_rows(testbed, dest, items, rows, FILES)
    print(f"\nray numpy batches: {len(items)} URLs, {FILES} files in {elapsed:.2f} s, {FILES / elapsed:.0f} files/s")


def test_map_batches_with_pandas_batches(ray: ModuleType, testbed: Testbed, tmp_path: Path) -> None:
    items = good_items(testbed, "pandas", 60) + failing_items(testbed, "pandas")
    dest = tmp_path / "out"
    dataset = ray.data.from_items(items).map_batches(
        parget.ray.Downloader,
        fn_constructor_kwargs={"dest_dir": str(dest), "retries": 0},
        concurrency=2,
        num_cpus=0.5,
        batch_size=20,
        batch_format="pandas",
    )
    rows = dataset.take_all()
    # Arrow nulls come back as None; pandas' <NA> sizes included.
    check_rows(testbed, dest, items, rows, 60)
