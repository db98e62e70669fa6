# Stub of the native module (crates/parget-py/src). Hand-written: keep it in
# step with the #[pymethods]; tests/test_typing.py runs mypy's stubtest on it.

import os
from typing import (
    AsyncIterable,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    final,
    overload,
)

from typing_extensions import disjoint_base

from parget.errors import DownloadError
from parget.headers import Headers

__all__ = [
    "AsyncBatch",
    "DownloadResult",
    "Downloader",
    "FileProgress",
    "Group",
    "GroupResult",
    "PROXY_VARIABLES",
    "ProgressEvent",
    "Request",
    "runtime_pid",
    "_download_result",
    "_group_result",
    "__version__",
]

_StrPath = Union[str, os.PathLike[str]]
_RequestLike = Union[Request, Tuple[str, _StrPath]]
_Item = Union[_RequestLike, Group]
_HeadersLike = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
_Digests = Union[str, Sequence[str]]

__version__: str
PROXY_VARIABLES: Tuple[str, ...]
"""The environment variables a downloader's proxy decision reads."""

@final
class Request:
    def __new__(
        cls,
        url: str,
        path: _StrPath,
        *,
        expected_digests: Optional[Mapping[str, str]] = None,
        expected_size: Optional[int] = None,
        headers: Optional[_HeadersLike] = None,
        digests: Optional[_Digests] = None,
        tag: object = None,
        confined_to: Optional[_StrPath] = None,
    ) -> Request: ...
    @property
    def url(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def expected_digests(self) -> Dict[str, str]: ...
    @property
    def expected_size(self) -> Optional[int]: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def digests(self) -> List[str]: ...
    @property
    def tag(self) -> object: ...

@final
class Group:
    def __new__(
        cls,
        requests: Iterable[_RequestLike],
        *,
        policy: str = "cancel",
        tag: object = None,
    ) -> Group: ...
    @property
    def requests(self) -> List[Request]: ...
    @property
    def policy(self) -> str: ...
    @property
    def tag(self) -> object: ...
    def __len__(self) -> int: ...

@final
class DownloadResult:
    @property
    def id(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def final_url(self) -> Optional[str]: ...
    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def digests(self) -> Dict[str, str]: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def attempts(self) -> int: ...
    @property
    def skipped(self) -> bool: ...
    @property
    def ok(self) -> bool: ...
    @property
    def tag(self) -> object: ...
    @property
    def error(self) -> Optional[DownloadError]: ...
    def __reduce__(self) -> Tuple[Callable[[Tuple[object, ...]], DownloadResult], Tuple[Tuple[object, ...]]]: ...

@final
class GroupResult:
    @property
    def results(self) -> List[DownloadResult]: ...
    @property
    def ok(self) -> bool: ...
    @property
    def tag(self) -> object: ...
    def __len__(self) -> int: ...
    def __reduce__(
        self,
    ) -> Tuple[Callable[[List[DownloadResult], object], GroupResult], Tuple[List[DownloadResult], object]]: ...

@final
class FileProgress:
    @property
    def id(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def received(self) -> int: ...
    @property
    def total(self) -> Optional[int]: ...
    @property
    def tag(self) -> object: ...

@final
class ProgressEvent:
    @property
    def downloads(self) -> List[FileProgress]: ...
    @property
    def received(self) -> int: ...
    @property
    def total(self) -> Optional[int]: ...
    @property
    def active(self) -> int: ...
    @property
    def finished(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def elapsed(self) -> float: ...

@final
class AsyncBatch:
    def __aiter__(self) -> AsyncBatch: ...
    async def __anext__(self) -> Union[DownloadResult, GroupResult]: ...
    async def drain(self) -> None: ...
    def progress(self) -> Optional[ProgressEvent]: ...
    def cancel(self) -> None: ...

@disjoint_base
class Downloader:
    def __new__(
        cls,
        *,
        concurrency: int = 16,
        per_host: Optional[int] = None,
        retries: int = 5,
        retry_wait: float = 1.0,
        split: Optional[int] = None,
        min_split_size: Optional[int] = None,
        connect_timeout: Optional[float] = None,
        timeout: Optional[float] = None,
        resume: bool = True,
        allow_overwrite: bool = False,
        fsync: bool = False,
        wait_for_lock: bool = False,
        user_agent: Optional[str] = None,
        headers: Optional[_HeadersLike] = None,
        digests: Optional[_Digests] = None,
        ca_certificate: Union[_StrPath, Sequence[_StrPath], None] = None,
        insecure: bool = False,
        proxy: Optional[str] = None,
        no_proxy: Optional[str] = None,
    ) -> Downloader: ...
    @property
    def concurrency(self) -> int: ...
    def download(
        self,
        url: str,
        path: _StrPath,
        *,
        expected_digests: Optional[Mapping[str, str]] = None,
        expected_size: Optional[int] = None,
        headers: Optional[_HeadersLike] = None,
        digests: Optional[_Digests] = None,
        on_progress: Optional[Callable[[ProgressEvent], object]] = None,
    ) -> DownloadResult: ...
    @overload
    def download_many(
        self,
        requests: Iterable[_RequestLike],
        *,
        on_progress: Optional[Callable[[ProgressEvent], object]] = None,
    ) -> List[DownloadResult]: ...
    @overload
    def download_many(
        self,
        requests: Iterable[_Item],
        *,
        on_progress: Optional[Callable[[ProgressEvent], object]] = None,
    ) -> List[Union[DownloadResult, GroupResult]]: ...
    def _open(
        self,
        requests: Union[Iterable[_Item], AsyncIterable[_Item]],
        *,
        track: bool = False,
    ) -> AsyncBatch: ...
    def cancel(self) -> None: ...

def runtime_pid() -> Optional[int]: ...
def _download_result(state: Tuple[object, ...]) -> DownloadResult: ...
def _group_result(results: List[DownloadResult], tag: object) -> GroupResult: ...
