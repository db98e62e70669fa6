"""Headers: sent per request and by default, and the response's on the result."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import parget
from conftest import Testbed


def test_download_sends_its_headers(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/headers/token", size=100, require_header="X-Token:abc")
    # The server refuses without the header: the header does the work.
    with pytest.raises(parget.HTTPStatusError) as refused:
        parget.download(url, tmp_path / "no", retries=0)
    assert refused.value.status == 403
    result = parget.download(url, tmp_path / "yes", headers={"X-Token": "abc"})
    assert (tmp_path / "yes").read_bytes() == testbed.body(testbed.url("/headers/token", size=100))
    assert result.ok


def test_requests_carry_their_own_headers_over_the_downloader_s(testbed: Testbed, tmp_path: Path) -> None:
    downloader = parget.Downloader(headers={"X-Team": "blue", "X-Token": "default"}, retries=0)
    needs_both = testbed.url("/headers/both", size=10, require_header=["X-Team:blue", "X-Token:mine"])
    needs_default = testbed.url("/headers/default", size=10, require_header=["X-Team:blue", "X-Token:default"])
    results = {
        r.path: r
        for r in downloader.download_many(
            [
                # A request's header replaces the default of the same name
                # (names compare without case).
                parget.Request(needs_both, tmp_path / "both", headers={"x-token": "mine"}),
                (needs_default, tmp_path / "default"),
                # Without its own header the default is sent, and refused here.
                (needs_both, tmp_path / "refused"),
            ]
        )
    }
    assert results[str(tmp_path / "both")].ok, results[str(tmp_path / "both")].error
    assert results[str(tmp_path / "default")].ok, results[str(tmp_path / "default")].error
    refused = results[str(tmp_path / "refused")].error
    assert isinstance(refused, parget.HTTPStatusError) and refused.status == 403


def test_a_header_may_be_given_twice_and_a_user_agent_per_request(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/headers/agent", size=10, require_header=["User-Agent:crawler/2", "X-A:1"])
    downloader = parget.Downloader(user_agent="default/1", retries=0)
    result = downloader.download(url, tmp_path / "f", headers=[("User-Agent", "crawler/2"), ("X-A", "1"), ("X-A", "2")])
    assert result.ok
    with pytest.raises(parget.HTTPStatusError):
        downloader.download(url, tmp_path / "g", headers=[("X-A", "1")])


def test_bad_headers_are_refused_where_given(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid HTTP header name"):
        parget.Request("http://127.0.0.1/x", tmp_path / "x", headers={"Bad Name": "v"})
    with pytest.raises(ValueError, match="(?i)x-injected.*characters HTTP does not allow"):
        parget.download("http://127.0.0.1/x", tmp_path / "x", headers={"X-Injected": "a\r\nHost: evil"})
    with pytest.raises(ValueError, match="characters HTTP does not allow"):
        parget.Downloader(headers={"X-A": "line\nbreak"})
    with pytest.raises(TypeError, match="not one string"):
        parget.Request("http://127.0.0.1/x", tmp_path / "x", headers="X-A: 1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pair of str"):
        parget.Request("http://127.0.0.1/x", tmp_path / "x", headers=[("X-A", 1)])  # type: ignore[list-item]


def test_results_carry_the_response_headers_case_insensitively(testbed: Testbed, tmp_path: Path) -> None:
    url = testbed.url("/headers/response", size=1234, disposition='attachment; filename="r.bin"')
    result = parget.download(url, tmp_path / "f")
    headers = result.headers
    assert isinstance(headers, parget.Headers)
    assert headers["Content-Length"] == headers["content-length"] == "1234"
    assert headers["ETag"].startswith('"') and headers["etag"] == headers["ETAG"]
    assert headers.get("content-disposition") == 'attachment; filename="r.bin"'
    assert "Accept-Ranges" in headers and "accept-ranges" in headers
    assert "x-not-sent" not in headers and headers.get("X-Not-Sent") is None
    with pytest.raises(KeyError):
        headers["X-Not-Sent"]
    assert headers.getall("last-modified") == [headers["Last-Modified"]]
    assert headers.getall("x-not-sent", []) == []
    assert all(name == name.lower() for name in headers)
    assert dict(headers)["content-length"] == "1234"
    assert pickle.loads(pickle.dumps(headers)) == headers
    # The same object each time it is asked for.
    assert result.headers is headers


def test_repeated_response_headers_keep_every_value() -> None:
    headers = parget.Headers([("Link", "<a>"), ("Set-Cookie", "a=1"), ("link", "<b>")])
    assert headers["LINK"] == "<a>"
    assert headers.getall("Link") == ["<a>", "<b>"]
    assert len(headers) == 2 and list(headers) == ["link", "set-cookie"]
    assert headers.multi_items() == [("link", "<a>"), ("set-cookie", "a=1"), ("link", "<b>")]


def test_final_url_follows_redirects(testbed: Testbed, tmp_path: Path) -> None:
    target = "/headers/target?size=50"
    url = testbed.url("/headers/moved", redirect_to=target)
    result = parget.download(url, tmp_path / "f")
    assert result.url == url
    assert result.final_url == testbed.base + target
    assert result.size == 50
    direct = parget.download(testbed.url("/headers/direct", size=5), tmp_path / "g")
    assert direct.final_url == direct.url
    # Nothing was requested for a skipped file: no final URL, no headers.
    sha = direct.digests.get("sha256") or testbed.sha256(direct.url)
    skipped = parget.download(direct.url, tmp_path / "g", expected_digests={"sha256": sha})
    assert skipped.skipped and skipped.final_url is None and len(skipped.headers) == 0


def test_a_request_shows_what_it_sends(tmp_path: Path) -> None:
    request = parget.Request("http://127.0.0.1/x", tmp_path / "x", headers=[("X-A", "1"), ("x-a", "2")])
    assert request.headers.getall("X-A") == ["1", "2"]
