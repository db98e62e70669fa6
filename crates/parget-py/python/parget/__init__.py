"""parget: a download engine for Python, blocking and asyncio.

Many files at once over one connection pool, big files over many
connections, size and digests verified while the bytes stream, retries and
resume through faulty servers. Bytes go to ``NAME.part`` and are renamed to
``NAME`` only after every check passed.

Blocking calls release the GIL while the engine works and still answer
Ctrl-C at once (``KeyboardInterrupt``, the ``.part`` files kept for resume);
async calls run on the same engine and are cancelled with their task.

    import parget

    result = parget.download(
        "https://example.com/file.iso", "file.iso",
        expected_digests={"sha256": "ba7816bf..."},
    )
    print(result.size, result.digests["sha256"])

    results = parget.download_many([(url, path) for url, path in pairs])
    failed = [r for r in results if r.error is not None]
"""

from __future__ import annotations

import asyncio
import os
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
)

from parget import errors
from parget._parget import AsyncBatch, DownloadResult, FileProgress, ProgressEvent, Request
from parget._parget import Downloader as _NativeDownloader
from parget._parget import __version__
from parget.errors import (
    DigestValidationError,
    DownloadError,
    HTTPStatusError,
    SizeValidationError,
    TimeoutError,
)

if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    class DownloaderOptions(TypedDict, total=False):
        """The settings of :class:`Downloader`, also taken by the module functions."""

        concurrency: int
        per_host: Optional[int]
        retries: int
        retry_wait: float
        split: Optional[int]
        min_split_size: Optional[int]
        connect_timeout: Optional[float]
        timeout: Optional[float]
        resume: bool
        allow_overwrite: bool
        fsync: bool
        user_agent: Optional[str]
        ca_certificate: Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], None]
        insecure: bool


__all__ = [
    "Downloader",
    "Request",
    "DownloadResult",
    "ProgressEvent",
    "FileProgress",
    "download",
    "download_many",
    "adownload",
    "adownload_many",
    "DownloadError",
    "DigestValidationError",
    "SizeValidationError",
    "HTTPStatusError",
    "TimeoutError",
    "errors",
    "__version__",
]

StrPath = Union[str, "os.PathLike[str]"]
"""A path: a string or an :class:`os.PathLike`."""

RequestLike = Union[Request, Tuple[str, StrPath]]
"""A download: a :class:`Request`, or a ``(url, path)`` pair."""

ProgressCallback = Callable[[ProgressEvent], object]
"""Called with a :class:`ProgressEvent` about 10 times a second."""

PROGRESS_INTERVAL = 0.1
"""Seconds between two progress events (never one per chunk)."""


class Downloader(_NativeDownloader):
    """One engine shared by every call made through it: its connection pool,
    its limits (``concurrency`` downloads at once, ``per_host`` connections
    to one host) and its settings, for blocking and async calls alike.

    ``Downloader(concurrency=16, per_host=None, retries=5, retry_wait=1.0,
    split=None, min_split_size=None, connect_timeout=None, timeout=None,
    resume=True, allow_overwrite=False, fsync=False, user_agent=None,
    ca_certificate=None, insecure=False)``; ``None`` keeps the engine's
    default (8 connections per host, 8 segments for a large file, segments
    of at least 4 MiB, 30 s to connect, 60 s without a byte).

    Blocking: :meth:`download`, :meth:`download_many`. asyncio:
    :meth:`adownload`, :meth:`adownload_many`.
    """

    async def adownload(
        self,
        url: str,
        path: StrPath,
        *,
        expected_digests: Optional[Mapping[str, str]] = None,
        expected_size: Optional[int] = None,
        on_progress: Optional[ProgressCallback] = None,
    ) -> DownloadResult:
        """Downloads ``url`` to ``path``; raises its :class:`DownloadError`
        when it fails. Cancelling the awaiting task cancels the download
        (its ``.part`` file stays)."""
        request = Request(url, path, expected_digests=expected_digests, expected_size=expected_size)
        batch = self._open([request], track=on_progress is not None)
        async with _Ticker(batch, on_progress):
            result = await batch.__anext__()
        if result.error is not None:
            raise result.error
        return result

    def adownload_many(
        self,
        requests: Union[Iterable[RequestLike], AsyncIterable[RequestLike]],
        *,
        on_progress: Optional[ProgressCallback] = None,
    ) -> AsyncIterator[DownloadResult]:
        """Downloads every request of ``requests`` (a list, an iterator or an
        async iterator, read only as slots free up, so downloads start while
        it is still producing) and yields each result as it ends. Failures
        are results with ``error`` set. Cancelling the task that iterates
        cancels the running downloads."""
        return _results(self, requests, on_progress)


async def _results(
    downloader: Downloader,
    requests: Union[Iterable[RequestLike], AsyncIterable[RequestLike]],
    on_progress: Optional[ProgressCallback],
) -> AsyncIterator[DownloadResult]:
    batch = downloader._open(requests, track=on_progress is not None)
    async with _Ticker(batch, on_progress):
        async for result in batch:
            yield result


class _Ticker:
    """Calls ``on_progress`` every :data:`PROGRESS_INTERVAL` on the event loop
    while a batch runs, and once at its end. An exception raised by the
    callback cancels the batch and propagates. Leaving the block cancels
    whatever of the batch still runs."""

    def __init__(self, batch: AsyncBatch, on_progress: Optional[ProgressCallback]) -> None:
        self._batch = batch
        self._on_progress = on_progress
        self._task: Optional[asyncio.Task[None]] = None

    async def __aenter__(self) -> None:
        if self._on_progress is not None:
            self._task = asyncio.ensure_future(self._tick(self._on_progress))

    async def _tick(self, on_progress: ProgressCallback) -> None:
        try:
            while True:
                await asyncio.sleep(PROGRESS_INTERVAL)
                event = self._batch.progress()
                if event is not None:
                    on_progress(event)
        except Exception:
            self._batch.cancel()
            raise

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._batch.cancel()
        task = self._task
        if task is None:
            return
        failure = task.exception() if task.done() and not task.cancelled() else None
        task.cancel()
        if failure is not None:
            raise failure
        if exc is None and self._on_progress is not None:
            event = self._batch.progress()
            if event is not None:
                self._on_progress(event)


def download(
    url: str,
    path: StrPath,
    *,
    expected_digests: Optional[Mapping[str, str]] = None,
    expected_size: Optional[int] = None,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> DownloadResult:
    """Downloads ``url`` to ``path`` and returns its result; raises its
    :class:`DownloadError` when it fails. ``expected_digests`` maps hashlib
    names (``sha256``, ``sha512``, ``sha1``, ``md5``, ``blake3``) to hex
    digests; ``options`` are those of :class:`Downloader` (``split=``,
    ``retries=``, ``timeout=``...)."""
    return Downloader(**options).download(
        url,
        path,
        expected_digests=expected_digests,
        expected_size=expected_size,
        on_progress=on_progress,
    )


def download_many(
    requests: Iterable[RequestLike],
    *,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> List[DownloadResult]:
    """Downloads every request (a :class:`Request` or a ``(url, path)``
    pair), ``concurrency`` (16) at once, and returns the results in
    completion order. A failure is a result with ``error`` set: one bad
    file never stops the rest. ``options`` are those of :class:`Downloader`."""
    return Downloader(**options).download_many(requests, on_progress=on_progress)


async def adownload(
    url: str,
    path: StrPath,
    *,
    expected_digests: Optional[Mapping[str, str]] = None,
    expected_size: Optional[int] = None,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> DownloadResult:
    """:func:`download` for asyncio."""
    return await Downloader(**options).adownload(
        url,
        path,
        expected_digests=expected_digests,
        expected_size=expected_size,
        on_progress=on_progress,
    )


def adownload_many(
    requests: Union[Iterable[RequestLike], AsyncIterable[RequestLike]],
    *,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> AsyncIterator[DownloadResult]:
    """:func:`download_many` for asyncio: ``async for result in
    adownload_many(source)``, where ``source`` is a list, an iterator or an
    async iterator, read as slots free up."""
    return Downloader(**options).adownload_many(requests, on_progress=on_progress)
