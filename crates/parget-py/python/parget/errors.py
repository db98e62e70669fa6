"""The exceptions of parget.

Every failed download is a :class:`DownloadError` (with ``.url``); the
subclasses say why, in the vocabulary of pulp's downloaders. The message
names the URL and, for validation failures, the expected and actual values.
All of them pickle, so they cross process boundaries (multiprocessing).
"""

from __future__ import annotations

import builtins
from typing import Optional

__all__ = [
    "DownloadError",
    "DigestValidationError",
    "SizeValidationError",
    "HTTPStatusError",
    "TimeoutError",
]


class DownloadError(Exception):
    """A download failed. ``url`` is the URL it was for."""

    def __init__(self, message: str, url: Optional[str] = None, *details: object) -> None:
        # Every argument goes to args, so pickling rebuilds the same error.
        super().__init__(message, url, *details)
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return self.message


class DigestValidationError(DownloadError):
    """The bytes arrived but their digest is not the expected one.

    ``algorithm`` is the hashlib name (``"sha256"``), ``expected`` and
    ``actual`` are hex digests. The file was not put in place.
    """

    def __init__(
        self, message: str, url: Optional[str], algorithm: str, expected: str, actual: str
    ) -> None:
        super().__init__(message, url, algorithm, expected, actual)
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class SizeValidationError(DownloadError):
    """The size (received or announced) is not the expected one, in bytes."""

    def __init__(self, message: str, url: Optional[str], expected: int, actual: int) -> None:
        super().__init__(message, url, expected, actual)
        self.expected = expected
        self.actual = actual


class HTTPStatusError(DownloadError):
    """The server answered with an error status (after retries, if it was
    one worth retrying). ``status`` is the code."""

    def __init__(self, message: str, url: Optional[str], status: int) -> None:
        super().__init__(message, url, status)
        self.status = status


class TimeoutError(DownloadError, builtins.TimeoutError):
    """Connecting, or waiting for the next byte, took too long (after
    retries). Also a builtin :class:`TimeoutError`, so ``except
    TimeoutError`` written for the standard library catches it."""

    def __init__(self, message: str, url: Optional[str] = None) -> None:
        super().__init__(message, url)
        # OSError reads two arguments as (errno, strerror): set them right.
        self.errno = None
        self.strerror = message
