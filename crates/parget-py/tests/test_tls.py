"""HTTPS with a CA of the test's own: ca_certificate=."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

import parget
from conftest import Testbed


def test_ca_certificate_is_trusted(start_testbed: Callable[..., Testbed], tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    server = start_testbed("--tls", "--ca-out", str(ca))
    url = server.url("/tls/file", size=10_000)
    assert url.startswith("https://")
    downloader = parget.Downloader(ca_certificate=ca)
    result = downloader.download(url, tmp_path / "f", expected_size=10_000)
    assert result.size == 10_000
    # Unknown to the system's roots: refused without it, with a clear error.
    with pytest.raises(parget.DownloadError, match="TLS|certificate") as caught:
        parget.download(url, tmp_path / "g", retries=0)
    assert caught.value.url == url
    assert not (tmp_path / "g").exists()


def test_a_bad_ca_certificate_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such.pem"):
        parget.Downloader(ca_certificate=tmp_path / "no-such.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="garbage.pem"):
        parget.Downloader(ca_certificate=[garbage])
