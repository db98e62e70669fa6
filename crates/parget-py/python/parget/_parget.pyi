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
)

from typing_extensions import disjoint_base

__all__ = [
    "AsyncBatch",
    "DownloadResult",
    "Downloader",
    "FileProgress",
    "ProgressEvent",
    "Request",
    "runtime_pid",
    "__version__",
]

_StrPath = Union[str, os.PathLike[str]]
_RequestLike = Union[Request, Tuple[str, _StrPath]]

__version__: str

@final
class Request:
    def __new__(
        cls,
        url: str,
        path: _StrPath,
        *,
        expected_digests: Optional[Mapping[str, str]] = None,
        expected_size: Optional[int] = None,
    ) -> Request: ...
    @property
    def url(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def expected_digests(self) -> Dict[str, str]: ...
    @property
    def expected_size(self) -> Optional[int]: ...

@final
class DownloadResult:
    @property
    def url(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def digests(self) -> Dict[str, str]: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def attempts(self) -> int: ...
    @property
    def skipped(self) -> bool: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> Optional[Exception]: ...

@final
class FileProgress:
    @property
    def url(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def received(self) -> int: ...
    @property
    def total(self) -> Optional[int]: ...

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
    async def __anext__(self) -> DownloadResult: ...
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
        user_agent: Optional[str] = None,
        ca_certificate: Union[_StrPath, Sequence[_StrPath], None] = None,
        insecure: bool = False,
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
        on_progress: Optional[Callable[[ProgressEvent], object]] = None,
    ) -> DownloadResult: ...
    def download_many(
        self,
        requests: Iterable[_RequestLike],
        *,
        on_progress: Optional[Callable[[ProgressEvent], object]] = None,
    ) -> List[DownloadResult]: ...
    def _open(
        self,
        requests: Union[Iterable[_RequestLike], AsyncIterable[_RequestLike]],
        *,
        track: bool = False,
    ) -> AsyncBatch: ...
    def cancel(self) -> None: ...

def runtime_pid() -> Optional[int]: ...
