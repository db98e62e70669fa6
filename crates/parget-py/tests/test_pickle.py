"""Results pickle: they come back from a worker process (multiprocessing,
concurrent.futures, Ray) field for field."""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import pickle
import threading
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

import parget
from conftest import Testbed


def fields(result: parget.DownloadResult) -> Dict[str, Any]:
    return {
        "id": result.id,
        "url": result.url,
        "final_url": result.final_url,
        "path": result.path,
        "size": result.size,
        "digests": result.digests,
        "headers": list(result.headers.items()),
        "elapsed": result.elapsed,
        "attempts": result.attempts,
        "skipped": result.skipped,
        "ok": result.ok,
        "tag": result.tag,
    }


def test_a_result_pickles_field_for_field(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/pickle/ok", size=5000)
    (result,) = parget.download_many(
        [parget.Request(url, tmp_path / "f", tag={"row": 3, "name": "f"})], digests=["sha256", "md5"]
    )
    assert isinstance(result, parget.DownloadResult) and result.ok, result
    copy = pickle.loads(pickle.dumps(result))
    assert type(copy) is parget.DownloadResult
    assert fields(copy) == fields(result)
    assert copy.digests["sha256"] == hashlib.sha256(testbed.body(url)).hexdigest()
    assert copy.headers["content-length"] == "5000"
    assert copy.error is None
    assert repr(copy) == repr(result)


def test_a_failure_pickles_with_its_error(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/pickle/bad", size=10)
    (result,) = parget.download_many(
        [parget.Request(url, tmp_path / "f", expected_digests={"md5": "0" * 32})]
    )
    assert isinstance(result, parget.DownloadResult) and not result.ok
    copy = pickle.loads(pickle.dumps(result))
    assert not copy.ok and fields(copy) == fields(result)
    assert type(copy.error) is parget.DigestValidationError
    assert str(copy.error) == str(result.error)
    assert copy.error.expected == "0" * 32


def test_a_group_result_pickles_with_its_members(testbed: Testbed, tmp_path: Path) -> None:
    members = [
        parget.Request(testbed.url(f"/pickle/group/{n}", size=100 + n), tmp_path / str(n)) for n in range(3)
    ]
    (group,) = parget.download_many([parget.Group(members, tag="the group")])
    assert isinstance(group, parget.GroupResult) and group.ok
    copy = pickle.loads(pickle.dumps(group))
    assert type(copy) is parget.GroupResult
    assert len(copy) == 3 and copy.ok and copy.tag == "the group"
    assert [fields(r) for r in copy.results] == [fields(r) for r in group.results]


def test_a_tag_that_does_not_pickle_makes_the_result_not_pickle(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/pickle/lock-tag", size=10)
    (result,) = parget.download_many([parget.Request(url, tmp_path / "f", tag=threading.Lock())])
    assert isinstance(result, parget.DownloadResult) and result.ok
    with pytest.raises(TypeError, match="lock"):
        pickle.dumps(result)


def test_a_forged_state_is_refused_by_name() -> None:
    from parget import _parget

    state: Tuple[object, ...] = (1, "u", None, "p", 0, [("sha257", "00")], [], 0.0, 1, False, None, None)
    with pytest.raises(ValueError, match="sha257"):
        _parget._download_result(state)
    bad_header = (1, "u", None, "p", 0, [], [("bad name", b"v")], 0.0, 1, False, None, None)
    with pytest.raises(ValueError, match="bad name"):
        _parget._download_result(bad_header)
    many = [(f"x{n}", b"v") for n in range(40_000)]
    with pytest.raises(ValueError, match="too many headers"):
        _parget._download_result((1, "u", None, "p", 0, [], many, 0.0, 1, False, None, None))
    with pytest.raises(ValueError, match="not a parget.DownloadError"):
        _parget._download_result((1, "u", None, "p", 0, [], [], 0.0, 1, False, None, "oops"))


def fetch_in_worker(url: str, path: str) -> parget.DownloadResult:
    return parget.download(url, path, digests="sha256")


def test_a_result_comes_back_from_a_worker_process(testbed: Testbed, tmp_path: Path) -> None:
    urls = [testbed.url(f"/pickle/worker/{n}", size=2000 + n) for n in range(4)]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        results = list(pool.map(fetch_in_worker, urls, [str(tmp_path / str(n)) for n in range(4)]))
    for n, (url, result) in enumerate(zip(urls, results)):
        assert type(result) is parget.DownloadResult and result.ok
        assert result.path == str(tmp_path / str(n)) and result.size == 2000 + n
        assert result.digests["sha256"] == hashlib.sha256(testbed.body(url)).hexdigest()
        assert (tmp_path / str(n)).read_bytes() == testbed.body(url)
