"""Rows of a table batch, read and written without I/O: the logic behind
:class:`parget.ray.Downloader`, kept apart from the downloads so it is
tested on its own.

A batch is what Ray Data's ``map_batches`` hands a function: a dict of
numpy arrays (Ray's default), a pandas DataFrame, or a pyarrow Table; a
dict of lists works too. None of these libraries is imported here: a batch
of a format was made by its library, which is therefore loaded already
(``sys.modules``), and dicts of lists need none.
"""

from __future__ import annotations

import hashlib
import math
import os
import posixpath
import re
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "OUTPUT_COLUMNS",
    "Row",
    "Outcome",
    "default_path",
    "read_batch",
    "parse_rows",
    "write_batch",
]

OUTPUT_COLUMNS = ("path", "size", "sha256", "error")
"""The columns a processed batch has (replacing input columns of the same name)."""

NAME_LIMIT = 100
"""Characters of a URL's last path segment kept in a default file name."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def default_path(url: str) -> str:
    """The destination of ``url`` when its row has no ``path``:
    ``HH/HHHHHHHHHHHHHHHH-NAME``, where ``H...`` is the SHA-256 of the URL
    (as given, query included) in hex, its first 2 digits a directory (256
    of them, so no directory grows past a few million entries) and its
    first 16 a prefix, and ``NAME`` is the last segment of the URL's path,
    percent-decoded, with every character but ASCII letters, digits, ``.``,
    ``-`` and ``_`` replaced by ``_``, its last :data:`NAME_LIMIT` characters
    kept (the extension stays). A URL whose path ends in ``/`` (or has none)
    gets ``HH/HHHHHHHHHHHHHHHH``.

    The name depends on the URL alone, so it is the same on every worker and
    every run (a re-run finds its files), and two URLs that end in the same
    file name (``a/img.jpg``, ``b/img.jpg``) get different prefixes."""
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
    segment = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", urllib.parse.unquote(segment))[-NAME_LIMIT:]
    return f"{digest[:2]}/{digest[:16]}" + (f"-{name}" if name else "")


@dataclass(frozen=True)
class Row:
    """One download asked for by a batch row."""

    url: str
    """The URL to fetch."""
    path: str
    """Where to, relative to the destination directory (normalized, inside it)."""
    sha256: Optional[str]
    """The expected SHA-256 (lowercase hex), if the row gave one."""
    size: Optional[int]
    """The expected size in bytes, if the row gave one."""


@dataclass(frozen=True)
class Outcome:
    """What became of one row: the values of :data:`OUTPUT_COLUMNS`."""

    path: str
    """Where the file is (or would have been)."""
    size: Optional[int]
    """Bytes of the file; None for a failure."""
    sha256: Optional[str]
    """SHA-256 of the file in hex; None for a failure."""
    error: Optional[str]
    """Why the row failed; None when the file is in place."""


def read_batch(batch: object) -> Tuple[str, Dict[str, List[Any]]]:
    """The batch's format (``"numpy"``, ``"lists"``, ``"pandas"`` or
    ``"pyarrow"``) and its columns as lists of plain Python values."""
    if isinstance(batch, Mapping):
        columns = {str(name): _values(column) for name, column in batch.items()}
        numpy = any(_module(column) == "numpy" for column in batch.values())
        return ("numpy" if numpy else "lists"), columns
    module = _module(batch)
    if module == "pandas":
        frame: Any = batch
        return "pandas", {str(name): frame[name].tolist() for name in frame.columns}
    if module == "pyarrow":
        table: Any = batch
        return "pyarrow", {str(k): list(v) for k, v in table.to_pydict().items()}
    raise TypeError(
        "a batch is a dict of columns, a pandas DataFrame or a pyarrow Table, "
        f"not {type(batch).__name__}"
    )


def _module(value: object) -> str:
    """The top-level package of ``value``'s type (``numpy``, ``pandas``...)."""
    return type(value).__module__.split(".", 1)[0]


def _values(column: object) -> List[Any]:
    """A column (numpy array, list, tuple...) as a list of Python values."""
    tolist = getattr(column, "tolist", None)
    if callable(tolist):
        # numpy: np.str_ and np.int64 become str and int.
        return list(tolist())
    if isinstance(column, (str, bytes)) or not isinstance(column, Sequence):
        raise TypeError(f"a batch column is an array or a list, not {type(column).__name__}")
    return list(column)


def _missing(value: object) -> bool:
    """None and what the table libraries write for it (NaN, pandas.NA, NaT)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def parse_rows(columns: Mapping[str, Sequence[Any]]) -> List[Union[Row, str]]:
    """One entry per row: its :class:`Row`, or why it cannot be downloaded
    (a string naming the column and the value). ``url`` is required;
    ``path``, ``sha256`` and ``size`` are optional, as columns and as values
    (None, NaN or an empty string: the default path, no check)."""
    if "url" not in columns:
        raise ValueError(f"a batch needs a 'url' column; it has {sorted(columns)}")
    urls = columns["url"]
    rows = len(urls)
    for name, column in columns.items():
        if len(column) != rows:
            raise ValueError(f"batch column {name!r} has {len(column)} values for {rows} URLs")
    none: List[Any] = [None] * rows
    paths = columns.get("path", none)
    digests = columns.get("sha256", none)
    sizes = columns.get("size", none)
    return [_row(urls[i], paths[i], digests[i], sizes[i]) for i in range(rows)]


def _row(url: object, path: object, sha256: object, size: object) -> Union[Row, str]:
    if _missing(url) or url == "":
        return "url: missing"
    if not isinstance(url, str):
        return f"url: {url!r} is not a string"
    relative = _relative(url, path)
    expected_sha = _expected_sha256(sha256)
    expected_size = _expected_size(size)
    for problem in (relative, expected_sha, expected_size):
        if isinstance(problem, _Problem):
            return problem.message
    assert not isinstance(relative, _Problem)
    assert not isinstance(expected_sha, _Problem)
    assert not isinstance(expected_size, _Problem)
    return Row(url, relative, expected_sha, expected_size)


@dataclass(frozen=True)
class _Problem:
    """A value of a row that cannot be used, and why."""

    message: str


def _relative(url: str, path: object) -> Union[str, _Problem]:
    """The row's destination relative to the destination directory."""
    if _missing(path) or path == "":
        return default_path(url)
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        return _Problem(f"path: {path!r} is not a string")
    if "\0" in path:
        return _Problem(f"path: {path!r} contains a NUL byte")
    if path.startswith("/"):
        return _Problem(f"path: {path!r} is absolute; paths are relative to dest_dir")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        return _Problem(f"path: {path!r} leaves dest_dir")
    if normal == "." or path.endswith("/"):
        return _Problem(f"path: {path!r} names a directory, not a file")
    return normal


def _expected_sha256(value: object) -> Union[Optional[str], _Problem]:
    if _missing(value) or value == "":
        return None
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        return _Problem(f"sha256: {value!r} is not 64 hex digits")
    return value.lower()


def _expected_size(value: object) -> Union[Optional[int], _Problem]:
    if _missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        # A numeric column with a missing value is float (NaN) in numpy and pandas.
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return _Problem(f"size: {value!r} is not a number of bytes")
    return value


def write_batch(batch: object, format: str, outcomes: Sequence[Outcome]) -> Any:
    """``batch`` with the :data:`OUTPUT_COLUMNS` of ``outcomes`` (one per
    row, in order) added or replaced, in the batch's own ``format`` (as
    :func:`read_batch` named it); the other columns are kept as they are."""
    paths = [o.path for o in outcomes]
    sizes = [o.size for o in outcomes]
    digests = [o.sha256 for o in outcomes]
    errors = [o.error for o in outcomes]
    if format == "lists":
        assert isinstance(batch, Mapping)
        out: Dict[str, Any] = dict(batch)
        out.update(path=paths, size=sizes, sha256=digests, error=errors)
        return out
    if format == "numpy":
        assert isinstance(batch, Mapping)
        np: Any = sys.modules["numpy"]
        out = dict(batch)
        out["path"] = np.array(paths, dtype=object)
        # int64 when every row has a size; else objects, None for the failures
        # (Ray turns either into an Arrow int64 column, null for None).
        complete = all(s is not None for s in sizes)
        out["size"] = np.array(sizes, dtype=np.int64 if complete else object)
        out["sha256"] = np.array(digests, dtype=object)
        out["error"] = np.array(errors, dtype=object)
        return out
    if format == "pandas":
        pd: Any = sys.modules["pandas"]
        frame: Any = batch
        frame = frame.copy(deep=False)
        frame["path"] = pd.Series(paths, index=frame.index, dtype=object)
        # Int64 (nullable): a failure is <NA>, not a float NaN among ints.
        frame["size"] = pd.array(sizes, dtype="Int64")
        frame["sha256"] = pd.Series(digests, index=frame.index, dtype=object)
        frame["error"] = pd.Series(errors, index=frame.index, dtype=object)
        return frame
    if format == "pyarrow":
        pa: Any = sys.modules["pyarrow"]
        table: Any = batch
        arrays = {
            "path": pa.array(paths, type=pa.string()),
            "size": pa.array(sizes, type=pa.int64()),
            "sha256": pa.array(digests, type=pa.string()),
            "error": pa.array(errors, type=pa.string()),
        }
        for name, array in arrays.items():
            if name in table.column_names:
                table = table.set_column(table.column_names.index(name), name, array)
            else:
                table = table.append_column(name, array)
        return table
    raise ValueError(f"unknown batch format {format!r}")
