"""A tqdm progress bar for parget, when tqdm is installed.

    from parget.tqdm import TqdmProgress

    with TqdmProgress(desc="mirror") as bar:
        parget.download_many(requests, on_progress=bar)

The bar counts bytes of every download of the call; its total grows as
the sizes become known. Keyword arguments go to ``tqdm.tqdm``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Optional, Type

from parget._parget import ProgressEvent

__all__ = ["TqdmProgress"]


class TqdmProgress:
    """An ``on_progress`` callback that draws a tqdm bar."""

    def __init__(self, **tqdm_options: Any) -> None:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]
        except ImportError as e:
            raise ImportError(
                "parget.tqdm needs tqdm: pip install tqdm (or parget[tqdm])"
            ) from e
        options: dict[str, Any] = {
            "total": None,
            "unit": "B",
            "unit_scale": True,
            "unit_divisor": 1024,
        }
        options.update(tqdm_options)
        self.bar = tqdm(**options)

    def __call__(self, event: ProgressEvent) -> None:
        bar = self.bar
        if event.total is not None and event.total != bar.total:
            bar.total = event.total
        bar.set_postfix_str(f"{event.finished} done, {event.active} running", refresh=False)
        bar.update(event.received - bar.n)

    def close(self) -> None:
        """Closes the bar."""
        self.bar.close()

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
