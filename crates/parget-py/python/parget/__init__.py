"""parget: a download engine for Python, blocking and asyncio.

Many files at once over one connection pool, big files over many
connections, size and digests verified while the bytes stream, retries and
resume through faulty servers. Bytes go to ``NAME.part`` and are renamed to
``NAME`` only after every check passed.

Blocking calls release the GIL while the engine works and still answer
Ctrl-C at once (``KeyboardInterrupt``, the ``.part`` files kept for resume);
async calls run on the same engine and are cancelled with their task. Either
way only the call's own downloads stop.

    import parget

    result = parget.download(
        "https://example.com/file.iso", "file.iso",
        expected_digests={"sha256": "ba7816bf..."},
        headers={"Authorization": "Bearer ..."},
    )
    print(result.size, result.digests["sha256"], result.headers["ETag"])

    results = parget.download_many(
        [(url, path) for url, path in pairs]
        + [parget.Group([(deb_url, "p.deb"), (sig_url, "p.deb.asc")])],
        digests=("sha256",),
    )
    failed = [r for r in results if not r.ok]
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
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
    cast,
    overload,
)

from parget import errors
from parget._parget import (
    AsyncBatch,
    DownloadResult,
    FileProgress,
    Group,
    GroupResult,
    ProgressEvent,
    Request,
)
from parget._parget import PROXY_VARIABLES as _NATIVE_PROXY_VARIABLES
from parget._parget import Downloader as _NativeDownloader
from parget._parget import __version__
from parget.errors import (
    DigestValidationError,
    DownloadError,
    HTTPStatusError,
    SizeValidationError,
    TimeoutError,
)
from parget.headers import Headers

if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    class EngineOptions(TypedDict, total=False):
        """The settings of :class:`Downloader` but ``headers`` and
        ``digests`` (which :func:`download` takes for its one request)."""

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
        wait_for_lock: bool
        user_agent: Optional[str]
        ca_certificate: Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], None]
        insecure: bool
        proxy: Optional[str]
        no_proxy: Optional[str]

    class DownloaderOptions(EngineOptions, total=False):
        """The settings of :class:`Downloader`, also taken by the module functions."""

        headers: Optional["HeadersLike"]
        digests: Optional[Union[str, Sequence[str]]]


__all__ = [
    "Downloader",
    "Request",
    "Group",
    "DownloadResult",
    "GroupResult",
    "Headers",
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

Item = Union[RequestLike, Group]
"""What a source of :func:`download_many` yields: a download or a :class:`Group`."""

Result = Union[DownloadResult, GroupResult]
"""What :func:`download_many` hands back for an :data:`Item`."""

HeadersLike = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
"""Headers to send: a mapping, or ``(name, value)`` pairs (a name may repeat)."""

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
    headers=None, digests=None, ca_certificate=None, insecure=False,
    proxy=None, no_proxy=None)``; ``None`` keeps the engine's default (no
    cap per host, up to 8 connections for a large file, segments of at
    least 4 MiB, 30 s to connect, 60 s without a byte, the proxy the
    environment's variables name). ``proxy`` is ``http://``, ``https://``,
    ``socks5://`` or ``socks5h://`` (``""`` for none); ``no_proxy`` lists
    hosts reached directly, as ``NO_PROXY`` does. ``headers`` are sent with every request (a request's
    own header of the same name wins); ``digests`` (hashlib names, such as
    ``("sha256",)``) are computed for every download while it streams and
    come back in each result's ``digests``.

    Blocking: :meth:`download`, :meth:`download_many`. asyncio:
    :meth:`adownload`, :meth:`adownload_many`. :meth:`cancel` stops every
    call's downloads. As a context manager (``with`` or ``async with``),
    leaving the block closes it (:meth:`close`): downloads still running
    then, such as tasks left behind by an exception, are cancelled.
    """

    async def adownload(
        self,
        url: str,
        path: StrPath,
        *,
        expected_digests: Optional[Mapping[str, str]] = None,
        expected_size: Optional[int] = None,
        headers: Optional[HeadersLike] = None,
        digests: Optional[Union[str, Sequence[str]]] = None,
        on_progress: Optional[ProgressCallback] = None,
    ) -> DownloadResult:
        """Downloads ``url`` to ``path``; raises its :class:`DownloadError`
        when it fails. Cancelling the awaiting task cancels the download:
        by the time the task ends, its ``.part`` file holds what arrived."""
        _check_callback(on_progress)
        request = Request(
            url,
            path,
            expected_digests=expected_digests,
            expected_size=expected_size,
            headers=headers,
            digests=digests,
        )
        batch = self._open([request], track=on_progress is not None)
        async with _Ticker(batch, on_progress):
            # One request, no group: a DownloadResult.
            result = cast(DownloadResult, await batch.__anext__())
        if result.error is not None:
            raise result.error
        return result

    @overload
    def adownload_many(
        self,
        requests: Union[Iterable[RequestLike], AsyncIterable[RequestLike]],
        *,
        on_progress: Optional[ProgressCallback] = None,
    ) -> AsyncIterator[DownloadResult]: ...
    @overload
    def adownload_many(
        self,
        requests: Union[Iterable[Item], AsyncIterable[Item]],
        *,
        on_progress: Optional[ProgressCallback] = None,
    ) -> AsyncIterator[Result]: ...
    def adownload_many(
        self,
        requests: Union[Iterable[Item], AsyncIterable[Item]],
        *,
        on_progress: Optional[ProgressCallback] = None,
    ) -> AsyncIterator[Result]:
        """Downloads every item of ``requests`` (a list, an iterator or an
        async iterator of requests and groups, read only as slots free up,
        so downloads start while it is still producing) and yields each
        result as it ends: a :class:`DownloadResult` per request, a
        :class:`GroupResult` per group once all its members ended.
        Failures are results with ``error`` set. Cancelling the task that
        iterates (or leaving the loop) cancels the running downloads of
        this call only."""
        _check_callback(on_progress)
        return _results(self, requests, on_progress)

    def close(self) -> None:
        """Cancels whatever this downloader still runs, as :meth:`cancel`
        does (each download ends with a cancelled ``DownloadError``, its
        ``.part`` file kept for resume), and lets its connection pool go.
        A later call works as usual, on a fresh pool."""
        self.cancel()

    def __enter__(self) -> "Downloader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> "Downloader":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


def _check_callback(on_progress: Optional[ProgressCallback]) -> None:
    """Refuses an ``on_progress`` that cannot be called before anything is
    downloaded (as the blocking calls do), not at its first event."""
    if on_progress is not None and not callable(on_progress):
        raise TypeError(
            "on_progress must be callable (it is called with a parget.ProgressEvent), "
            f"not {type(on_progress).__name__}"
        )


async def _results(
    downloader: Downloader,
    requests: Union[Iterable[Item], AsyncIterable[Item]],
    on_progress: Optional[ProgressCallback],
) -> AsyncIterator[Result]:
    batch = downloader._open(requests, track=on_progress is not None)
    async with _Ticker(batch, on_progress):
        async for result in batch:
            yield result


class _Ticker:
    """Calls ``on_progress`` every :data:`PROGRESS_INTERVAL` on the event loop
    while a batch runs, and once at its end. An exception raised by the
    callback cancels the batch and propagates. Leaving the block cancels
    whatever of the batch still runs; leaving it by an exception
    (``CancelledError`` when the task was cancelled) first waits until the
    cancelled downloads have flushed their ``.part`` files."""

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
        batch = self._batch
        batch.cancel()
        task = self._task
        failure = None
        if task is not None:
            failure = task.exception() if task.done() and not task.cancelled() else None
            task.cancel()
        if exc is not None or failure is not None:
            # A caller that resumes after this finds the received bytes.
            await batch.drain()
        if failure is not None:
            raise failure
        if exc is None and self._on_progress is not None:
            event = batch.progress()
            if event is not None:
                self._on_progress(event)


_SHARED_DOWNLOADERS = 8
"""How many sets of options keep a downloader for the module functions
:func:`download` and :func:`adownload` (the least recently used one is
let go)."""

_SHARED_CONCURRENCY = 1 << 16
"""The ``concurrency`` of those shared downloaders: each call is one
download its caller asked for, and the caller's own threads and tasks
bound how many run (32 threads calling :func:`download` run 32 at once)."""

_PROXY_VARIABLES: Tuple[str, ...] = tuple(_NATIVE_PROXY_VARIABLES)
"""The environment variables a downloader's proxy decision reads (the
engine's own list)."""

_shared: "OrderedDict[Tuple[Tuple[str, object], ...], Downloader]" = OrderedDict()
_shared_lock = threading.Lock()


def _new_shared_lock() -> None:
    """A forked child gets a lock of its own: another thread of the parent
    may have held the old one at the fork, and nobody would release it in
    the child. (The downloaders themselves rebuild their engine there.)"""
    global _shared_lock
    _shared_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_shared_lock)


def _shared_downloader(options: Mapping[str, object]) -> Downloader:
    """The downloader every :func:`download` and :func:`adownload` call
    with these ``options`` shares, so a loop of calls reuses connections
    (and TLS sessions) as one :class:`Downloader` does instead of opening
    one per file. Options that do not hash (a list of CA files) get a
    downloader of their own, and so do ``wait_for_lock=True`` calls: within
    one downloader a second download of a destination being written fails
    at once instead of waiting. The proxy variables of the environment are
    part of the key, since a downloader reads them when it is built."""
    if options.get("wait_for_lock"):
        return Downloader(**cast("EngineOptions", options))
    proxies = tuple((name, os.environ.get(name)) for name in _PROXY_VARIABLES)
    try:
        key = (*sorted(options.items()), ("environment", proxies))
        hash(key)
    except TypeError:
        return Downloader(**cast("EngineOptions", options))
    with _shared_lock:
        downloader = _shared.get(key)
        if downloader is None:
            settings = {"concurrency": _SHARED_CONCURRENCY, **options}
            downloader = Downloader(**cast("EngineOptions", settings))
            _shared[key] = downloader
            if len(_shared) > _SHARED_DOWNLOADERS:
                _shared.popitem(last=False)
        else:
            _shared.move_to_end(key)
        return downloader


def download(
    url: str,
    path: StrPath,
    *,
    expected_digests: Optional[Mapping[str, str]] = None,
    expected_size: Optional[int] = None,
    headers: Optional[HeadersLike] = None,
    digests: Optional[Union[str, Sequence[str]]] = None,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[EngineOptions],
) -> DownloadResult:
    """Downloads ``url`` to ``path`` and returns its result; raises its
    :class:`DownloadError` when it fails. ``expected_digests`` maps hashlib
    names (``sha256``, ``sha512``, ``sha384``, ``sha224``, ``sha1``,
    ``md5``, ``blake3``) to hex digests; ``digests`` names algorithms to compute without an expected
    value; ``headers`` are sent with each request. ``options`` are those of
    :class:`Downloader` (``split=``, ``retries=``, ``timeout=``...). Calls
    with the same ``options`` share one downloader, its connections kept
    open between calls: a loop of calls to one server reuses them."""
    return _shared_downloader(options).download(
        url,
        path,
        expected_digests=expected_digests,
        expected_size=expected_size,
        headers=headers,
        digests=digests,
        on_progress=on_progress,
    )


@overload
def download_many(
    requests: Iterable[RequestLike],
    *,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> List[DownloadResult]: ...
@overload
def download_many(
    requests: Iterable[Item],
    *,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> List[Result]: ...
def download_many(
    requests: Iterable[Item],
    *,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> Sequence[Result]:
    """Downloads every item (a :class:`Request`, a ``(url, path)`` pair or
    a :class:`Group`), ``concurrency`` (16) at once, and returns the results
    in completion order: a :class:`DownloadResult` per request, a
    :class:`GroupResult` per group. A failure is a result with ``error``
    set: one bad file never stops the rest. ``options`` are those of
    :class:`Downloader` (``headers=`` and ``digests=`` apply to every
    request)."""
    return Downloader(**options).download_many(requests, on_progress=on_progress)


async def adownload(
    url: str,
    path: StrPath,
    *,
    expected_digests: Optional[Mapping[str, str]] = None,
    expected_size: Optional[int] = None,
    headers: Optional[HeadersLike] = None,
    digests: Optional[Union[str, Sequence[str]]] = None,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[EngineOptions],
) -> DownloadResult:
    """:func:`download` for asyncio (sharing the same downloaders)."""
    return await _shared_downloader(options).adownload(
        url,
        path,
        expected_digests=expected_digests,
        expected_size=expected_size,
        headers=headers,
        digests=digests,
        on_progress=on_progress,
    )


@overload
def adownload_many(
    requests: Union[Iterable[RequestLike], AsyncIterable[RequestLike]],
    *,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> AsyncIterator[DownloadResult]: ...
@overload
def adownload_many(
    requests: Union[Iterable[Item], AsyncIterable[Item]],
    *,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> AsyncIterator[Result]: ...
def adownload_many(
    requests: Union[Iterable[Item], AsyncIterable[Item]],
    *,
    on_progress: Optional[ProgressCallback] = None,
    **options: Unpack[DownloaderOptions],
) -> AsyncIterator[Result]:
    """:func:`download_many` for asyncio: ``async for result in
    adownload_many(source)``, where ``source`` is a list, an iterator or an
    async iterator of requests and groups, read as slots free up."""
    return Downloader(**options).adownload_many(requests, on_progress=on_progress)
