"""Arguments are checked when they are given, before anything is
downloaded, and take what the stub promises."""

from __future__ import annotations

import collections.abc
import hashlib
import types
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

import parget
from conftest import Testbed


class Digests(collections.abc.Mapping):  # type: ignore[type-arg]
    """A mapping that is no dict."""

    def __init__(self, entries: Dict[str, str]) -> None:
        self._entries = entries

    def __getitem__(self, key: str) -> str:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def mappings(sha256: str) -> List[object]:
    entries = {"sha256": sha256}
    return [dict(entries), types.MappingProxyType(entries), Digests(entries)]


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["dict", "MappingProxyType", "Mapping"])
def test_expected_digests_take_any_mapping(kind: int, testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url(f"/validate/map{kind}", size=5000)
    right = mappings(testbed.sha256(url))[kind]
    wrong = mappings("00" * 32)[kind]
    assert parget.download(url, tmp_path / "a", expected_digests=right).digests["sha256"] == testbed.sha256(url)  # type: ignore[arg-type]
    request = parget.Request(url, tmp_path / "b", expected_digests=right)  # type: ignore[arg-type]
    assert request.expected_digests == {"sha256": testbed.sha256(url)}
    with pytest.raises(parget.DigestValidationError):
        parget.download(url, tmp_path / "c", expected_digests=wrong)  # type: ignore[arg-type]
    [failed] = parget.download_many([parget.Request(url, tmp_path / "d", expected_digests=wrong)])  # type: ignore[arg-type]
    assert isinstance(failed.error, parget.DigestValidationError)


@pytest.mark.asyncio
async def test_adownload_takes_any_mapping(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/validate/amap", size=3000)
    digests = types.MappingProxyType({"sha256": testbed.sha256(url)})
    result = await parget.adownload(url, tmp_path / "a", expected_digests=digests)
    assert result.ok and result.digests["sha256"] == digests["sha256"]


def test_expected_digests_must_be_a_mapping_of_strings(tmp_path: Path) -> None:
    for bad in (["sha256"], {"sha256": 5}, "sha256"):
        with pytest.raises(TypeError, match="expected_digests must be a mapping"):
            parget.Request("http://127.0.0.1/", tmp_path / "x", expected_digests=bad)  # type: ignore[arg-type]


def test_a_result_s_error_is_a_download_error(testbed: Testbed, tmp_path: Path) -> None:
    [result] = parget.download_many([(testbed.url("/validate/gone", status=404), tmp_path / "gone")])
    assert isinstance(result.error, parget.DownloadError)


@pytest.mark.parametrize("name", ["timeout", "connect_timeout"])
@pytest.mark.parametrize("value", [0, 0.0, 1e-300, -1.0, float("nan")])
def test_a_timeout_must_be_more_than_zero(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a number of seconds more than 0"):
        parget.Downloader(**{name: value})  # type: ignore[arg-type]


def test_timeouts_and_waits_that_work_are_taken() -> None:
    parget.Downloader(timeout=0.5, connect_timeout=2, retry_wait=0)


def test_a_nul_byte_in_a_path_is_a_value_error(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/validate/nul", size=10)
    bad = str(tmp_path / "a\0b")
    with pytest.raises(ValueError, match="embedded null byte"):
        parget.Request(url, bad)
    with pytest.raises(ValueError, match="embedded null byte"):
        parget.Request(url, tmp_path / "ok", confined_to=bad)
    with pytest.raises(ValueError, match="embedded null byte"):
        parget.download(url, bad)
    with pytest.raises(ValueError, match="embedded null byte"):
        parget.download_many([(url, bad)])
    assert testbed.path_stats("/validate/nul")["requests"] == 0


def test_a_callback_that_cannot_be_called_is_refused_before_downloading(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/validate/cb", size=10)
    with pytest.raises(TypeError, match="on_progress must be callable"):
        parget.download(url, tmp_path / "a", on_progress=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_progress must be callable"):
        parget.download_many([(url, tmp_path / "b")], on_progress="bar")  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())
    assert testbed.path_stats("/validate/cb")["requests"] == 0


@pytest.mark.asyncio
async def test_an_async_callback_that_cannot_be_called_is_refused_before_downloading(
    testbed: Testbed, tmp_path: Path
) -> None:
    url = testbed.url("/validate/acb", size=10)
    with pytest.raises(TypeError, match="on_progress must be callable"):
        await parget.adownload(url, tmp_path / "a", on_progress=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_progress must be callable"):
        parget.adownload_many([(url, tmp_path / "b")], on_progress=5)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())
    assert testbed.path_stats("/validate/acb")["requests"] == 0


def test_headers_that_frame_the_request_are_refused(tmp_path: Path) -> None:
    for name in ("Content-Length", "Transfer-Encoding", "Range"):
        with pytest.raises(ValueError, match="is parget's to send"):
            parget.Request("http://127.0.0.1/x", tmp_path / "x", headers={name: "5"})
    with pytest.raises(ValueError, match="is parget's to send"):
        parget.Downloader(headers={"Connection": "close"})


def test_wait_for_lock_lets_a_second_writer_wait(testbed: Testbed, tmp_path: Path) -> None:
    import threading
    import time

    # A slow download holds the destination's lock while a second call
    # for it starts: without waiting it fails on the lock; waiting, it
    # finds the finished file and skips it.
    url = testbed.url("/validation/lock", size=4_000_000, rate=2_000_000)
    body = testbed.body(url)
    downloader = parget.Downloader()
    first: List[parget.DownloadResult] = []
    thread = threading.Thread(target=lambda: first.append(downloader.download(url, tmp_path / "f")))
    thread.start()
    part = tmp_path / "f.part"
    # Bytes in the part file: its lock is held.
    while thread.is_alive() and not (part.exists() and part.stat().st_size > 0):
        time.sleep(0.005)
    with pytest.raises(parget.DownloadError, match="is locked"):
        parget.download(url, tmp_path / "f")
    waited = parget.download(url, tmp_path / "f", wait_for_lock=True)
    thread.join()
    assert first[0].ok and not first[0].skipped
    assert waited.skipped
    assert (tmp_path / "f").read_bytes() == body
