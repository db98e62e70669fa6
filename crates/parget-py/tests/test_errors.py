"""Every exception type, raised by real failures of a real server."""

from __future__ import annotations

import builtins
import hashlib
import pickle
from pathlib import Path

import pytest

import parget
from conftest import Testbed


def test_digest_mismatch(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/errors/digest", size=4096)
    actual = testbed.sha256(url)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(parget.DigestValidationError) as caught:
        parget.download(url, tmp_path / "f", expected_digests={"sha256": wrong})
    error = caught.value
    assert isinstance(error, parget.DownloadError)
    assert error.url == url
    assert error.algorithm == "sha256"
    assert error.expected == wrong
    assert error.actual == actual
    assert url in str(error) and wrong in str(error) and actual in str(error)
    # Known-wrong bytes are neither put in place nor kept for resume.
    assert not (tmp_path / "f").exists()
    assert not (tmp_path / "f.part").exists()


def test_size_mismatch(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/errors/size", size=1000)
    with pytest.raises(parget.SizeValidationError) as caught:
        parget.download(url, tmp_path / "f", expected_size=999)
    assert caught.value.expected == 999
    assert caught.value.actual == 1000
    assert caught.value.url == url
    assert not (tmp_path / "f").exists()


def test_http_status(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/errors/status", status=403)
    with pytest.raises(parget.HTTPStatusError) as caught:
        parget.download(url, tmp_path / "f")
    assert caught.value.status == 403
    assert caught.value.url == url
    assert "403" in str(caught.value)


def test_retryable_status_is_retried_then_reported(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/errors/flaky", size=100, fail=503, fail_count=2)
    result = parget.download(url, tmp_path / "f", retries=3, retry_wait=0.01)
    assert result.attempts == 3
    failing = testbed.url("/errors/down", fail=503, fail_count="all")
    with pytest.raises(parget.HTTPStatusError) as caught:
        parget.download(failing, tmp_path / "g", retries=1, retry_wait=0.01)
    assert caught.value.status == 503


def test_timeout_is_also_the_builtin_timeout_error(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/errors/stall", size=100_000, stall_after=1000)
    with pytest.raises(builtins.TimeoutError) as caught:
        parget.download(url, tmp_path / "f", timeout=0.3, retries=0)
    error = caught.value
    assert isinstance(error, parget.TimeoutError)
    assert isinstance(error, parget.DownloadError)
    assert error.url == url
    assert error.errno is None
    assert "idle timeout" in str(error)
    # A transfer cut short keeps its bytes for resume.
    assert (tmp_path / "f.part").exists()


def test_other_failures_are_download_errors(tmp_path: Path) -> None:
    with pytest.raises(parget.DownloadError, match="unsupported URL scheme `ftp`") as caught:
        parget.download("ftp://127.0.0.1/x", tmp_path / "f")
    assert type(caught.value) is parget.DownloadError
    assert caught.value.url == "ftp://127.0.0.1/x"
    # Port 1 on loopback: nothing listens, the connection is refused.
    with pytest.raises(parget.DownloadError, match="connection failed"):
        parget.download("http://127.0.0.1:1/x", tmp_path / "g", retries=0)


def test_errors_pickle(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/errors/pickle", size=10)
    with pytest.raises(parget.DigestValidationError) as caught:
        parget.download(url, tmp_path / "f", expected_digests={"md5": "0" * 32})
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is parget.DigestValidationError
    assert (copy.url, copy.algorithm, copy.expected, copy.actual) == (
        caught.value.url,
        "md5",
        "0" * 32,
        caught.value.actual,
    )
    assert str(copy) == str(caught.value)
    timeout = pickle.loads(pickle.dumps(parget.TimeoutError("u: slow", "u")))
    assert isinstance(timeout, builtins.TimeoutError) and timeout.url == "u" and str(timeout) == "u: slow"
