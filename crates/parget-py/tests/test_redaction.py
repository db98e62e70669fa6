"""Text representations never show a URL's password: repr and str of
requests, results and progress entries redact it as the error messages do,
while `.url` keeps the URL as given."""

from __future__ import annotations

from pathlib import Path
from typing import List

import parget
from conftest import Testbed

SECRET = "s3cret"


def with_password(url: str) -> str:
    return url.replace("http://", f"http://alice:{SECRET}@", 1)


def assert_redacted(text: str) -> None:
    assert SECRET not in text, text
    assert "alice:***@" in text, text


def test_a_request_s_repr_redacts_the_password(testbed: Testbed, tmp_path: Path) -> None:
    request = parget.Request(with_password(testbed.url("/redact/r", size=10)), tmp_path / "r")
    assert SECRET in request.url
    assert_redacted(repr(request))
    assert_redacted(str(request))


def test_a_result_s_repr_redacts_the_password(testbed: Testbed, tmp_path: Path) -> None:
    url = with_password(testbed.url("/redact/ok", size=10))
    result = parget.download(url, tmp_path / "ok")
    assert result.url == url
    assert_redacted(repr(result))
    assert_redacted(str(result))
    failed = parget.download_many([(with_password(testbed.url("/redact/gone", status=404)), tmp_path / "gone")])[0]
    assert failed.error is not None
    assert_redacted(repr(failed))
    assert_redacted(str(failed))


def test_a_progress_entry_s_repr_redacts_the_password(testbed: Testbed, tmp_path: Path) -> None:
    url = with_password(testbed.url("/redact/slow", size=1_000_000, rate=1_000_000))
    seen: List[parget.FileProgress] = []
    parget.download(url, tmp_path / "slow", on_progress=lambda event: seen.extend(event.downloads))
    assert seen, "no progress entry while the download ran"
    assert seen[0].url == url
    assert_redacted(repr(seen[0]))
    assert_redacted(str(seen[0]))
