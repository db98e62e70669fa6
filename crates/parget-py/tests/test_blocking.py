"""The blocking API: download, download_many, requests and results."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

import parget
from conftest import Testbed


def test_download_verifies_and_reports(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/blocking/one.bin", size=300_000)
    body = testbed.body(url)
    digests = {
        "sha256": hashlib.sha256(body).hexdigest(),
        "md5": hashlib.md5(body).hexdigest(),
        "sha512": hashlib.sha512(body).hexdigest(),
    }
    result = parget.download(url, tmp_path / "one.bin", expected_digests=digests, expected_size=len(body))
    assert (tmp_path / "one.bin").read_bytes() == body
    assert not (tmp_path / "one.bin.part").exists()
    assert result.url == url
    assert result.path == str(tmp_path / "one.bin")
    assert result.size == len(body)
    assert result.digests == digests
    assert result.ok and result.error is None and not result.skipped
    assert result.elapsed > 0
    assert result.attempts == 1


def test_digest_names_are_hashlib_names(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/blocking/names.bin", size=5000)
    body = testbed.body(url)
    expected = {name: hashlib.new(name, body).hexdigest() for name in ("sha1", "sha256", "md5", "sha512")}
    result = parget.download(url, tmp_path / "f", expected_digests={k.upper(): v.upper() for k, v in expected.items()})
    assert result.digests == expected


def test_second_download_of_a_verified_file_is_skipped(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/blocking/skip.bin", size=1000)
    sha = testbed.sha256(url)
    parget.download(url, tmp_path / "f", expected_digests={"sha256": sha})
    again = parget.download(url, tmp_path / "f", expected_digests={"sha256": sha})
    assert again.skipped and again.attempts == 0 and again.size == 1000


def test_download_many_takes_tuples_and_requests(testbed: Testbed, tmp_path: Path) -> None:
    tuples = [(testbed.url(f"/many/t{i}", size=1000 + i), tmp_path / f"t{i}") for i in range(20)]
    requests = [
        parget.Request(
            testbed.url(f"/many/r{i}", size=2000 + i),
            str(tmp_path / f"r{i}"),
            expected_size=2000 + i,
        )
        for i in range(5)
    ]
    results = parget.download_many([*tuples, *requests], concurrency=4)
    assert len(results) == 25
    assert all(r.ok for r in results), [r.error for r in results if r.error]
    by_path = {r.path: r for r in results}
    for url, path in tuples:
        assert Path(path).read_bytes() == testbed.body(url)
        assert by_path[str(path)].url == url
    for request in requests:
        assert os.path.getsize(request.path) == request.expected_size


def test_download_many_hands_failures_back_as_results(testbed: Testbed, tmp_path: Path) -> None:
    good = (testbed.url("/many/good", size=100), tmp_path / "good")
    missing = (testbed.url("/many/missing", status=404), tmp_path / "missing")
    wrong = parget.Request(testbed.url("/many/wrong", size=100), tmp_path / "wrong", expected_size=99)
    results = {r.path: r for r in parget.download_many([good, missing, wrong], retries=0)}
    assert results[str(tmp_path / "good")].ok
    assert isinstance(results[str(tmp_path / "missing")].error, parget.HTTPStatusError)
    assert isinstance(results[str(tmp_path / "wrong")].error, parget.SizeValidationError)
    assert not results[str(tmp_path / "missing")].ok
    assert (tmp_path / "good").exists()
    assert not (tmp_path / "missing").exists() and not (tmp_path / "wrong").exists()


def test_download_many_pulls_a_generator_as_slots_free_up(testbed: Testbed, tmp_path: Path) -> None:
    ahead: List[int] = []

    def requests() -> Iterator[Tuple[str, Path]]:
        for i in range(8):
            # Item i is asked for only once items 0..i-1 each had a slot:
            # with two slots, all but two of them have ended (a file is in
            # place before its slot is given back).
            done = sum((tmp_path / f"gen{j}").exists() for j in range(i))
            ahead.append(i - done)
            yield testbed.url(f"/many/gen{i}", size=64 * 1024, rate=256 * 1024), tmp_path / f"gen{i}"

    results = parget.download_many(requests(), concurrency=2)
    assert sorted(Path(r.path).name for r in results) == [f"gen{i}" for i in range(8)]
    assert len(ahead) == 8 and max(ahead) <= 2, ahead


def test_an_exception_in_the_source_propagates(testbed: Testbed, tmp_path: Path) -> None:
    def requests() -> Iterator[Tuple[str, Path]]:
        yield testbed.url("/many/before-error", size=10), tmp_path / "a"
        raise LookupError("the listing broke")

    with pytest.raises(LookupError, match="the listing broke"):
        parget.download_many(requests())


def test_bad_requests_are_refused_with_their_reason(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a URL"):
        parget.Request("no url here", tmp_path / "x")
    with pytest.raises(ValueError, match="unknown digest algorithm 'sha3_999'"):
        parget.Request("http://127.0.0.1/x", tmp_path / "x", expected_digests={"sha3_999": "00"})
    with pytest.raises(ValueError, match="sha256"):
        parget.Request("http://127.0.0.1/x", tmp_path / "x", expected_digests={"sha256": "xyz"})
    with pytest.raises(TypeError, match="a parget.Request, a parget.Group or a \\(url, path\\) pair"):
        parget.download_many([42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="iterable"):
        parget.download_many(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not one string"):
        parget.download_many("http://127.0.0.1/x")
    with pytest.raises(TypeError, match="pair of a str and a path"):
        parget.download_many([(b"http://127.0.0.1/x", "x")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        parget.Downloader(concurrency=0)
    with pytest.raises(ValueError, match="timeout"):
        parget.Downloader(timeout=-1.0)


def test_request_exposes_what_it_holds(tmp_path: Path) -> None:
    request = parget.Request(
        "http://127.0.0.1:1/a", tmp_path / "a", expected_digests={"SHA-256": "AB" * 32}, expected_size=7
    )
    assert request.url == "http://127.0.0.1:1/a"
    assert request.path == str(tmp_path / "a")
    assert request.expected_digests == {"sha256": "ab" * 32}
    assert request.expected_size == 7
    assert "Request(" in repr(request)


def test_an_existing_file_is_not_replaced_unless_allowed(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/blocking/exists", size=10)
    (tmp_path / "f").write_bytes(b"mine")
    with pytest.raises(parget.DownloadError, match="exists"):
        parget.download(url, tmp_path / "f", resume=False)
    assert (tmp_path / "f").read_bytes() == b"mine"
    # Resuming (the default), an output with no part file beside it was put
    # there complete: it is skipped and left alone.
    skipped = parget.download(url, tmp_path / "f")
    assert skipped.skipped and skipped.size == 4
    assert (tmp_path / "f").read_bytes() == b"mine"
    parget.download(url, tmp_path / "f", allow_overwrite=True)
    assert (tmp_path / "f").read_bytes() == testbed.body(url)


def test_a_confined_request_refuses_a_link_on_the_way(testbed: Testbed, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "pages").symlink_to(elsewhere)
    url = testbed.url("/confined/f.bin", size=100)
    confined = parget.Request(url, tmp_path / "out" / "pages" / "f.bin", confined_to=tmp_path / "out")
    [result] = parget.download_many([confined], retries=0)
    assert isinstance(result.error, parget.DownloadError)
    assert "symbolic link" in str(result.error) and "pages" in str(result.error)
    assert list(elsewhere.iterdir()) == []
    # Unconfined, the path is the caller's own, links and all.
    [result] = parget.download_many([(url, tmp_path / "out" / "pages" / "f.bin")], retries=0)
    assert result.ok and (elsewhere / "f.bin").read_bytes() == testbed.body(url)
