"""parget.ray.Downloader called directly (as Ray calls it in a worker, but
without Ray) on batches of testbed URLs, in each batch format."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

import parget.ray
from conftest import Testbed
from parget.ray import default_path
from test_batch import need


def rows_of(batch: Any) -> List[Dict[str, Any]]:
    """The rows of a processed batch, whatever its format, as plain dicts."""
    if isinstance(batch, dict):
        columns = {k: (v.tolist() if hasattr(v, "tolist") else list(v)) for k, v in batch.items()}
    elif hasattr(batch, "to_pydict"):
        columns = batch.to_pydict()
    else:
        # pandas: <NA> (the failures' sizes) as None.
        frame = batch.astype(object)
        return list(frame.where(frame.notna(), None).to_dict("records"))
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*columns.values())]


def mixed_batch(testbed: Testbed, name: str) -> Dict[str, List[Any]]:
    """Good rows (default and given paths, checked and unchecked) and
    failing ones (404, wrong digest, wrong size, a path out of dest_dir)."""
    good = [testbed.url(f"/rayd/{name}/f{i}.bin", size=100 * i + 1) for i in range(6)]
    return {
        "url": good + [
            testbed.url(f"/rayd/{name}/gone.bin", status=404),
            testbed.url(f"/rayd/{name}/bad-sha.bin", size=50),
            testbed.url(f"/rayd/{name}/bad-size.bin", size=50),
            testbed.url(f"/rayd/{name}/escape.bin", size=50),
        ],
        "path": [None, "sub/one.bin", None, "two.bin", None, None, None, None, None, "../escape.bin"],
        "sha256": [None, testbed.sha256(good[1]), None, None, testbed.sha256(good[4]), None, None, "00" * 32, None, None],
        "size": [None, None, 201, None, None, None, None, None, 49, None],
        "label": list(range(10)),
    }


def check_mixed(testbed: Testbed, dest: Path, batch: Dict[str, List[Any]], rows: List[Dict[str, Any]]) -> None:
    assert len(rows) == len(batch["url"])
    assert [r["url"] for r in rows] == batch["url"]
    assert [r["label"] for r in rows] == batch["label"], "other columns pass through, in order"
    for i, row in enumerate(rows[:6]):
        body = testbed.body(row["url"])
        relative = batch["path"][i] or default_path(row["url"])
        assert row["path"] == str(dest / relative)
        assert row["error"] is None
        assert row["size"] == len(body) == 100 * i + 1
        assert row["sha256"] == hashlib.sha256(body).hexdigest()
        assert Path(row["path"]).read_bytes() == body
    gone, bad_sha, bad_size, escape = rows[6:]
    assert gone["error"] == f"{gone['url']}: server answered HTTP 404"
    assert "sha256" in bad_sha["error"] and "00" * 32 in bad_sha["error"]
    assert "size" in bad_size["error"] and "49" in bad_size["error"]
    assert escape["error"] == "path: '../escape.bin' leaves dest_dir"
    for row in (gone, bad_sha, bad_size):
        assert row["size"] is None and row["sha256"] is None
        assert row["path"] == str(dest / default_path(row["url"]))
        assert not Path(row["path"]).exists()
    assert not (dest.parent / "escape.bin").exists()


def test_a_batch_of_lists(testbed: Testbed, tmp_path: Path) -> None:
    batch = mixed_batch(testbed, "lists")
    out = parget.ray.Downloader(tmp_path, retries=0)(batch)
    assert isinstance(out, dict)
    check_mixed(testbed, tmp_path, batch, rows_of(out))


def test_a_batch_of_numpy_arrays(testbed: Testbed, tmp_path: Path) -> None:
    np = need("numpy")
    batch = mixed_batch(testbed, "numpy")
    arrays = {k: np.array(v, dtype=object if k in ("path", "sha256", "size") else None) for k, v in batch.items()}
    # Ray's numpy batches hold missing numbers as NaN in a float column.
    arrays["size"] = np.array([np.nan if s is None else s for s in batch["size"]], dtype=float)
    out = parget.ray.Downloader(str(tmp_path), retries=0)(arrays)
    assert set(out) == {"url", "path", "sha256", "size", "label", "error"}
    assert all(isinstance(v, np.ndarray) for v in out.values())
    check_mixed(testbed, tmp_path, batch, rows_of(out))


def test_a_pandas_batch(testbed: Testbed, tmp_path: Path) -> None:
    pd = need("pandas")
    batch = mixed_batch(testbed, "pandas")
    out = parget.ray.Downloader(tmp_path, retries=0)(pd.DataFrame(batch))
    assert isinstance(out, pd.DataFrame)
    check_mixed(testbed, tmp_path, batch, rows_of(out))


def test_a_pyarrow_batch(testbed: Testbed, tmp_path: Path) -> None:
    pa = need("pyarrow")
    batch = mixed_batch(testbed, "arrow")
    out = parget.ray.Downloader(tmp_path, retries=0)(pa.table(batch))
    assert isinstance(out, pa.Table)
    check_mixed(testbed, tmp_path, batch, rows_of(out))


def test_a_rerun_keeps_the_files_and_reports_them_again(start_testbed: Any, tmp_path: Path) -> None:
    server = start_testbed()
    urls = [server.url(f"/again/f{i}", size=1000 + i) for i in range(5)]
    downloader = parget.ray.Downloader(tmp_path)
    first = rows_of(downloader({"url": urls}))
    second = rows_of(downloader({"url": urls, "sha256": [r["sha256"] for r in first]}))
    third = rows_of(parget.ray.Downloader(tmp_path)({"url": urls}))
    for i in range(5):
        assert server.path_stats(f"/again/f{i}")["requests"] == 1, "kept, not fetched again"
    assert first == second == third
    assert all(r["error"] is None and r["sha256"] == server.sha256(r["url"]) for r in third)


def test_urls_with_the_same_file_name_get_their_own_files(testbed: Testbed, tmp_path: Path) -> None:
    urls = [testbed.url(f"/same/{d}/image.jpg", size=10 + d) for d in range(20)]
    rows = rows_of(parget.ray.Downloader(tmp_path)({"url": urls}))
    assert len({r["path"] for r in rows}) == 20
    for row in rows:
        assert row["error"] is None and row["path"].endswith("-image.jpg")
        assert Path(row["path"]).read_bytes() == testbed.body(row["url"])


def test_settings_reach_the_workers_downloader(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/rayd/secret.bin", size=300, bearer="t0k3n")
    with_token = parget.ray.Downloader(tmp_path / "a", headers={"Authorization": "Bearer t0k3n"})
    assert rows_of(with_token({"url": [url]}))[0]["error"] is None
    without = parget.ray.Downloader(tmp_path / "b", retries=0)
    (row,) = rows_of(without({"url": [url]}))
    assert row["error"] == f"{url}: server answered HTTP 401"
    assert with_token.downloader.concurrency == 16
    assert parget.ray.Downloader(tmp_path, concurrency=3).downloader.concurrency == 3


def test_a_url_the_engine_refuses_is_a_row_error(testbed: Testbed, tmp_path: Path) -> None:
    ok = testbed.url("/rayd/fine.bin", size=10)
    rows = rows_of(parget.ray.Downloader(tmp_path, retries=0)({"url": ["not a url", "ftp://h/x", ok]}))
    assert rows[0]["error"] and "not a url" in rows[0]["error"]
    assert rows[1]["error"] and "ftp" in rows[1]["error"]
    assert rows[2]["error"] is None and os.path.getsize(rows[2]["path"]) == 10
