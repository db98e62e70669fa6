"""Digests by hashlib name: expected ones checked, asked-for ones computed
while the bytes stream, none computed unless asked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import parget
from conftest import Testbed


def test_nothing_is_computed_unless_asked(testbed: Testbed, tmp_path: Path) -> None:
    result = parget.download(testbed.url("/digests/none", size=1000), tmp_path / "f")
    assert result.digests == {}


def test_download_computes_the_digests_asked_for(testbed: Testbed, tmp_path: Path) -> None:
    # Large enough to be hashed on the engine's hashing thread as it is written.
    url = testbed.url("/digests/one", size=3_000_000)
    body = testbed.body(url)
    result = parget.download(url, tmp_path / "f", digests=("sha256", "md5"))
    assert result.digests == {"sha256": hashlib.sha256(body).hexdigest(), "md5": hashlib.md5(body).hexdigest()}
    # One name alone is a list of one.
    again = parget.download(url, tmp_path / "g", digests="blake3")
    assert set(again.digests) == {"blake3"} and len(again.digests["blake3"]) == 64


def test_expected_and_computed_digests_come_back_together(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/digests/both", size=5000)
    body = testbed.body(url)
    request = parget.Request(
        url, tmp_path / "f", expected_digests={"sha1": hashlib.sha1(body).hexdigest()}, digests=["sha256", "sha1"]
    )
    assert request.digests == ["sha256", "sha1"]
    (result,) = parget.download_many([request])
    assert result.digests == {"sha1": hashlib.sha1(body).hexdigest(), "sha256": hashlib.sha256(body).hexdigest()}


def test_a_downloader_computes_its_digests_for_every_download(testbed: Testbed, tmp_path: Path) -> None:
    requests = [(testbed.url(f"/digests/many{i}", size=100 * i + 1), tmp_path / f"m{i}") for i in range(5)]
    results = parget.download_many(requests, digests=("sha256",))
    assert len(results) == 5
    for result in results:
        assert result.digests == {"sha256": hashlib.sha256(Path(result.path).read_bytes()).hexdigest()}
    # A request's own algorithms are added to the downloader's.
    downloader = parget.Downloader(digests=["sha512"])
    one = downloader.download(testbed.url("/digests/extra", size=10), tmp_path / "x", digests=["md5"])
    body = (tmp_path / "x").read_bytes()
    assert one.digests == {"sha512": hashlib.sha512(body).hexdigest(), "md5": hashlib.md5(body).hexdigest()}


def test_a_skipped_file_reports_the_computed_digests_too(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/digests/skip", size=2000)
    body = testbed.body(url)
    expected = {"md5": hashlib.md5(body).hexdigest()}
    parget.download(url, tmp_path / "f", expected_digests=expected)
    again = parget.download(url, tmp_path / "f", expected_digests=expected, digests=("sha256",))
    assert again.skipped
    assert again.digests == {**expected, "sha256": hashlib.sha256(body).hexdigest()}


def test_unknown_digest_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown digest algorithm 'sha3_256'.*sha256"):
        parget.Request("http://127.0.0.1/x", tmp_path / "x", digests=["sha3_256"])
    with pytest.raises(ValueError, match="unknown digest algorithm 'crc32'"):
        parget.Downloader(digests=("crc32",))
    with pytest.raises(TypeError, match="hashlib names"):
        parget.download("http://127.0.0.1/x", tmp_path / "x", digests=[256])  # type: ignore[list-item]


def test_every_hashlib_sha2_name_is_checked(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/digests/sha2", size=70_000)
    body = testbed.body(url)
    names = ("sha224", "sha256", "sha384", "sha512")
    expected = {name: hashlib.new(name, body).hexdigest() for name in names}
    result = parget.download(url, tmp_path / "f", expected_digests=expected, digests=names)
    assert result.digests == expected
    wrong = {"sha384": hashlib.sha384(b"another body").hexdigest()}
    with pytest.raises(parget.DigestValidationError):
        parget.download(url, tmp_path / "g", expected_digests=wrong, retries=0)
    assert not (tmp_path / "g").exists()


def test_a_file_done_before_reports_the_digests_asked_for(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/digests/done", size=1000)
    body = testbed.body(url)
    first = parget.download(url, tmp_path / "f", digests=("sha256",))
    again = parget.download(url, tmp_path / "f", digests=("sha256",))
    assert not first.skipped and again.skipped
    assert first.digests == again.digests == {"sha256": hashlib.sha256(body).hexdigest()}
