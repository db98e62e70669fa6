"""parget for Ray Data: a callable class for ``Dataset.map_batches``.

    import ray
    import parget.ray

    ds = ray.data.from_items([{"url": u} for u in urls])
    results = ds.map_batches(
        parget.ray.Downloader,
        fn_constructor_kwargs={"dest_dir": "/data/files", "concurrency": 64},
        concurrency=4,            # four workers, each with its own downloader
    )
    failed = results.filter(lambda row: row["error"] is not None)

Ray builds one :class:`Downloader` per worker (its connection pool lives as
long as the worker) and calls it with batch after batch. A batch has a
``url`` column and may have ``path``, ``sha256`` and ``size`` columns; it
comes back with ``path``, ``size``, ``sha256`` and ``error`` columns, one
row per URL. A failed download is a row with its error, never an exception,
so one bad URL never fails the dataset.

This module imports neither Ray nor numpy nor pandas: Ray imports it in its
workers, and ``import parget`` works without Ray installed.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, List, Optional, TypeVar, Union

import parget
from parget._batch import (
    OUTPUT_COLUMNS,
    Outcome,
    Row,
    default_path,
    parse_rows,
    read_batch,
    write_batch,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from parget import DownloaderOptions

__all__ = ["Downloader", "default_path", "OUTPUT_COLUMNS"]

Batch = TypeVar("Batch")
"""A batch comes back in its own format (dict of arrays, DataFrame, Table)."""


class Downloader:
    """Downloads the URLs of a batch into ``dest_dir``: the function of
    ``ds.map_batches(parget.ray.Downloader, fn_constructor_kwargs={"dest_dir":
    ...}, concurrency=N)``.

    ``settings`` are those of :class:`parget.Downloader` (``concurrency``,
    ``per_host``, ``retries``, ``timeout``, ``headers``...): each worker's one
    downloader, whose pool serves all its batches. ``dest_dir`` is best
    absolute (a relative one resolves in each worker's working directory);
    on a cluster it is a file system every worker sees.

    Input columns: ``url`` (required); ``path``, relative to ``dest_dir``
    (missing, None or empty: :func:`default_path` of the URL; absolute paths
    and paths that leave ``dest_dir`` are refused); ``sha256`` (hex) and
    ``size`` (bytes) to verify while the bytes stream. Output: the batch with
    ``path`` (``dest_dir`` joined with the relative path, also for a
    failure), ``size`` and ``sha256`` of the file (None for a failure) and
    ``error`` (None, or the error's message: HTTP status, digest or size
    mismatch, a bad row value...), one row per input row, in order. A failed
    download leaves no file at ``path`` (its ``.part`` file may stay, to be
    resumed by a later run). A file already in place (a re-run) is verified
    against the row's ``sha256`` and ``size`` when it has them and kept
    without a request.
    """

    def __init__(self, dest_dir: Union[str, "os.PathLike[str]"], **settings: Unpack[DownloaderOptions]) -> None:
        self.dest_dir = os.fspath(dest_dir)
        self.downloader = parget.Downloader(**settings)

    def __call__(self, batch: Batch) -> Batch:
        """Downloads every row's URL (``concurrency`` at once) and returns
        ``batch`` with the output columns, in its own format."""
        format, columns = read_batch(batch)
        rows = parse_rows(columns)
        outcomes = self.download(rows)
        result: Batch = write_batch(batch, format, outcomes)
        return result

    def download(self, rows: List[Union[Row, str]]) -> List[Outcome]:
        """One outcome per entry of ``rows``: a :class:`Row` downloaded, or
        a string (why the row was refused) kept as its error."""
        outcomes: List[Optional[Outcome]] = [None] * len(rows)
        requests: List[parget.Request] = []
        for index, row in enumerate(rows):
            if isinstance(row, str):
                outcomes[index] = Outcome(self.dest_dir, None, None, row)
                continue
            path = os.path.join(self.dest_dir, row.path)
            try:
                request = parget.Request(
                    row.url,
                    path,
                    expected_digests={"sha256": row.sha256} if row.sha256 else None,
                    expected_size=row.size,
                    digests=("sha256",),
                    tag=index,
                )
            except (ValueError, TypeError) as e:
                # A URL or header the engine refuses: the row's error.
                outcomes[index] = Outcome(path, None, None, str(e))
                continue
            requests.append(request)
        for result in self.downloader.download_many(requests):
            tag = result.tag
            assert isinstance(tag, int)
            outcomes[tag] = self._outcome(result)
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(rows), "every request has a result"
        return done

    @staticmethod
    def _outcome(result: parget.DownloadResult) -> Outcome:
        if result.error is not None:
            return Outcome(result.path, None, None, str(result.error))
        sha256 = result.digests.get("sha256")
        if sha256 is None:
            # Only a file kept from an earlier run comes back unhashed.
            sha256 = _sha256_of(result.path)
        return Outcome(result.path, result.size, sha256, None)


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
