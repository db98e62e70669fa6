"""Downloads through a real proxy: tinyproxy from Debian's packages (the
test command installs it), started here on loopback with a generated
configuration; its log proves the requests went through it."""

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

import parget
from conftest import Testbed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tinyproxy:
    def __init__(self, directory: Path) -> None:
        binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
        if not Path(binary).exists():
            # The test command installs it; a missing proxy is a failure, not a skip.
            raise RuntimeError("tinyproxy is not installed (scripts/install-deps.sh installs it)")
        self.port = free_port()
        self.log = directory / "tinyproxy.log"
        config = directory / "tinyproxy.conf"
        config.write_text(
            f"Port {self.port}\nListen 127.0.0.1\nTimeout 600\n"
            f'LogFile "{self.log}"\nLogLevel Info\n'
            f'PidFile "{directory / "tinyproxy.pid"}"\nMaxClients 64\nAllow 127.0.0.1\n'
        )
        self.process = subprocess.Popen([binary, "-d", "-c", str(config)])
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"tinyproxy exited with {self.process.returncode}")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    directory = tmp_path / "proxy"
    directory.mkdir()
    proxy = Tinyproxy(directory)
    yield proxy
    proxy.stop()


def test_downloads_go_through_the_proxy_given(testbed: Testbed, tinyproxy: Tinyproxy, tmp_path: Path) -> None:
    url = testbed.url("/proxy/one", size=50_000)
    downloader = parget.Downloader(proxy=tinyproxy.url, no_proxy="")
    result = downloader.download(url, tmp_path / "one", expected_digests={"sha256": testbed.sha256(url)})
    assert (tmp_path / "one").read_bytes() == testbed.body(url)
    assert result.size == 50_000
    # tinyproxy logs each request line it forwards, with the absolute URL.
    assert "/proxy/one" in tinyproxy.requests()


def test_no_proxy_hosts_bypass_it(testbed: Testbed, tinyproxy: Tinyproxy, tmp_path: Path) -> None:
    url = testbed.url("/proxy/direct", size=1_000)
    downloader = parget.Downloader(proxy=tinyproxy.url, no_proxy="127.0.0.1")
    downloader.download(url, tmp_path / "direct")
    assert (tmp_path / "direct").read_bytes() == testbed.body(url)
    assert "/proxy/direct" not in tinyproxy.requests()


def test_a_proxy_that_is_not_there_fails_the_download(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/proxy/none", size=1_000)
    downloader = parget.Downloader(proxy=f"http://127.0.0.1:{free_port()}", no_proxy="", retries=0)
    with pytest.raises(parget.DownloadError):
        downloader.download(url, tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_an_unusable_proxy_url_is_refused_when_the_downloader_is_made() -> None:
    with pytest.raises(ValueError, match="proxy"):
        parget.Downloader(proxy="ftp://127.0.0.1:1")
