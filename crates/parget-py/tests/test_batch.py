"""The batch logic of parget.ray without Ray and without I/O: default names,
row values, and the four batch formats read and written."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from types import ModuleType
from typing import Any, Dict, List, Optional, Union

import pytest

from parget._batch import NAME_LIMIT, Outcome, Row, default_path, parse_rows, read_batch, write_batch


def need(module: str) -> ModuleType:
    """``module``, installed by scripts/test.sh with Ray; a missing one fails
    the test unless PARGET_SKIP_RAY=1 says Ray's stack is left out."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("PARGET_SKIP_RAY") == "1":
            pytest.skip(f"{module} is not installed and PARGET_SKIP_RAY=1")
        raise


def sha(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


# -- default_path


@pytest.mark.parametrize(
    "url, name",
    [
        ("http://h/a/img.jpg", "img.jpg"),
        ("http://h/a/img.jpg?size=5&x=1", "img.jpg"),
        ("http://h/a/img.jpg#frag", "img.jpg"),
        ("http://h/a/my%20photo%2B1.png", "my_photo_1.png"),
        ("http://h/a/caf%C3%A9.txt", "caf_.txt"),
        ("http://h/a/..", ".."),
        ("http://h/a/b;c:d*e.bin", "b_c_d_e.bin"),
        ("http://h/a/%2F..%2Fetc%2Fpasswd", "_.._etc_passwd"),
    ],
)
def test_default_path_is_the_url_hash_then_a_safe_name(url: str, name: str) -> None:
    h = sha(url)
    assert default_path(url) == f"{h[:2]}/{h[:16]}-{name}"


@pytest.mark.parametrize("url", ["http://h/dir/", "http://h", "http://h/", "http://h/?q=1"])
def test_default_path_without_a_name_is_the_hash(url: str) -> None:
    h = sha(url)
    assert default_path(url) == f"{h[:2]}/{h[:16]}"


def test_default_path_keeps_the_end_of_a_long_name() -> None:
    url = "http://h/" + "x" * 300 + ".tar.gz"
    path = default_path(url)
    name = path.split("-", 1)[1]
    assert len(name) == NAME_LIMIT and name.endswith("x.tar.gz")


def test_same_basename_different_urls_do_not_collide() -> None:
    urls = [f"http://h/{d}/img.jpg" for d in range(1000)] + ["https://h/0/img.jpg", "http://h/0/img.jpg?v=2"]
    paths = {default_path(u) for u in urls}
    assert len(paths) == len(urls)
    assert all(p.endswith("-img.jpg") and "/" in p for p in paths)


def test_default_path_is_the_same_in_another_process() -> None:
    # A stable hash (not Python's salted hash()): every worker and every run agree.
    url = "http://example.com/a/b.bin?x=1"
    code = "import sys; from parget._batch import default_path; print(default_path(sys.argv[1]))"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    other = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, env=env, check=True)
    assert other.stdout.strip() == default_path(url)


# -- parse_rows


def one(**columns: List[Any]) -> Union[Row, str]:
    rows = parse_rows({"url": ["http://h/f.bin"], **columns})
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize(
    "path, expected",
    [
        ("a/b.bin", "a/b.bin"),
        ("./a//b.bin", "a/b.bin"),
        ("a/../b.bin", "b.bin"),
        ("x", "x"),
        (None, default_path("http://h/f.bin")),
        ("", default_path("http://h/f.bin")),
        (float("nan"), default_path("http://h/f.bin")),
    ],
)
def test_paths_are_relative_and_normalized(path: object, expected: str) -> None:
    assert one(path=[path]) == Row("http://h/f.bin", expected, None, None)


@pytest.mark.parametrize(
    "path, message",
    [
        ("/etc/passwd", "path: '/etc/passwd' is absolute; paths are relative to dest_dir"),
        ("../x", "path: '../x' leaves dest_dir"),
        ("a/../../x", "path: 'a/../../x' leaves dest_dir"),
        ("..", "path: '..' leaves dest_dir"),
        (".", "path: '.' names a directory, not a file"),
        ("a/", "path: 'a/' names a directory, not a file"),
        ("a\0b", "path: 'a\\x00b' contains a NUL byte"),
        (5, "path: 5 is not a string"),
    ],
)
def test_bad_paths_are_the_rows_error(path: object, message: str) -> None:
    assert one(path=[path]) == message


@pytest.mark.parametrize(
    "value, expected",
    [
        ("ab" * 32, "ab" * 32),
        ("AB" * 32, "ab" * 32),
        (None, None),
        ("", None),
        (float("nan"), None),
    ],
)
def test_sha256_values(value: object, expected: Optional[str]) -> None:
    assert one(sha256=[value]) == Row("http://h/f.bin", default_path("http://h/f.bin"), expected, None)


@pytest.mark.parametrize("value", ["ab" * 31, "zz" * 32, "ab" * 33, 12, b"ab" * 32])
def test_bad_sha256_values_are_the_rows_error(value: object) -> None:
    assert one(sha256=[value]) == f"sha256: {value!r} is not 64 hex digits"


@pytest.mark.parametrize(
    "value, expected",
    [(0, 0), (1234, 1234), (7.0, 7), (None, None), (float("nan"), None)],
)
def test_size_values(value: object, expected: Optional[int]) -> None:
    row = one(size=[value])
    assert isinstance(row, Row) and row.size == expected


@pytest.mark.parametrize("value", [-1, 1.5, "12", True, float("inf")])
def test_bad_size_values_are_the_rows_error(value: object) -> None:
    assert one(size=[value]) == f"size: {value!r} is not a number of bytes"


@pytest.mark.parametrize("url, message", [(None, "url: missing"), ("", "url: missing"), (7, "url: 7 is not a string")])
def test_bad_urls_are_the_rows_error(url: object, message: str) -> None:
    assert parse_rows({"url": [url]}) == [message]


def test_a_batch_without_a_url_column_is_refused() -> None:
    with pytest.raises(ValueError, match=r"a batch needs a 'url' column; it has \['link', 'path'\]"):
        parse_rows({"link": ["x"], "path": ["y"]})


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="batch column 'path' has 1 values for 2 URLs"):
        parse_rows({"url": ["a", "b"], "path": ["x"]})


def test_rows_keep_their_order_and_their_own_values() -> None:
    rows = parse_rows(
        {
            "url": ["http://h/1", "http://h/2", None],
            "path": ["one", None, "three"],
            "sha256": [None, "CD" * 32, None],
            "size": [10, None, 3],
            "label": ["x", "y", "z"],
        }
    )
    assert rows == [
        Row("http://h/1", "one", None, 10),
        Row("http://h/2", default_path("http://h/2"), "cd" * 32, None),
        "url: missing",
    ]


# -- read_batch and write_batch, format by format

OUTCOMES = [
    Outcome("/d/a", 3, "aa" * 32, None),
    Outcome("/d/b", None, None, "server answered HTTP 404"),
]


def test_a_dict_of_lists() -> None:
    batch: Dict[str, Any] = {"url": ["http://h/a", "http://h/b"], "label": [1, 2], "size": [3, 4]}
    assert read_batch(batch) == ("lists", batch)
    out = write_batch(batch, "lists", OUTCOMES)
    assert out == {
        "url": ["http://h/a", "http://h/b"],
        "label": [1, 2],
        "path": ["/d/a", "/d/b"],
        "size": [3, None],
        "sha256": ["aa" * 32, None],
        "error": [None, "server answered HTTP 404"],
    }
    assert batch["size"] == [3, 4], "the input batch is left as it was"


def test_a_dict_of_numpy_arrays() -> None:
    np = need("numpy")
    batch = {
        "url": np.array(["http://h/a", "http://h/b"]),
        "size": np.array([3.0, np.nan]),
        "sha256": np.array([None, "AB" * 32], dtype=object),
        "label": np.array([7, 8]),
    }
    format, columns = read_batch(batch)
    assert format == "numpy"
    assert columns["url"] == ["http://h/a", "http://h/b"] and type(columns["url"][0]) is str
    rows = parse_rows(columns)
    assert rows == [
        Row("http://h/a", default_path("http://h/a"), None, 3),
        Row("http://h/b", default_path("http://h/b"), "ab" * 32, None),
    ]
    out = write_batch(batch, "numpy", OUTCOMES)
    assert list(out) == ["url", "size", "sha256", "label", "path", "error"]
    assert out["label"] is batch["label"]
    assert out["size"].dtype == object and out["size"].tolist() == [3, None]
    assert out["sha256"].tolist() == ["aa" * 32, None]
    assert out["error"].tolist() == [None, "server answered HTTP 404"]
    assert out["path"].tolist() == ["/d/a", "/d/b"]
    complete = write_batch(batch, "numpy", [OUTCOMES[0], OUTCOMES[0]])
    assert complete["size"].dtype == np.int64 and complete["size"].tolist() == [3, 3]


def test_a_pandas_data_frame() -> None:
    pd = need("pandas")
    frame = pd.DataFrame(
        {"url": ["http://h/a", "http://h/b"], "size": [3, None], "path": ["x/a", None], "label": ["p", "q"]},
        index=[10, 11],
    )
    format, columns = read_batch(frame)
    assert format == "pandas"
    rows = parse_rows(columns)
    assert rows == [Row("http://h/a", "x/a", None, 3), Row("http://h/b", default_path("http://h/b"), None, None)]
    out = write_batch(frame, "pandas", OUTCOMES)
    assert list(out.columns) == ["url", "size", "path", "label", "sha256", "error"]
    assert list(out.index) == [10, 11]
    assert str(out["size"].dtype) == "Int64"
    assert out["size"].iloc[0] == 3 and out["size"].isna().tolist() == [False, True]
    assert out["sha256"].tolist() == ["aa" * 32, None]
    assert out["error"].tolist() == [None, "server answered HTTP 404"]
    assert out["path"].tolist() == ["/d/a", "/d/b"]
    assert frame["path"].iloc[0] == "x/a" and frame["path"].isna().tolist() == [False, True], "the input is left as it was"


def test_a_pyarrow_table() -> None:
    pa = need("pyarrow")
    table = pa.table({"url": ["http://h/a", "http://h/b"], "sha256": [None, "ab" * 32], "n": [1, 2]})
    format, columns = read_batch(table)
    assert format == "pyarrow"
    assert parse_rows(columns)[1] == Row("http://h/b", default_path("http://h/b"), "ab" * 32, None)
    out = write_batch(table, "pyarrow", OUTCOMES)
    assert out.column_names == ["url", "sha256", "n", "path", "size", "error"]
    assert out.schema.field("size").type == pa.int64()
    assert out.schema.field("sha256").type == pa.string()
    assert out.to_pydict() == {
        "url": ["http://h/a", "http://h/b"],
        "sha256": ["aa" * 32, None],
        "n": [1, 2],
        "path": ["/d/a", "/d/b"],
        "size": [3, None],
        "error": [None, "server answered HTTP 404"],
    }


def test_pandas_missing_values_read_as_missing() -> None:
    pd = need("pandas")
    frame = pd.DataFrame({"url": ["http://h/a", "http://h/b"], "size": pd.array([5, None], dtype="Int64")})
    rows = parse_rows(read_batch(frame)[1])
    assert [r.size for r in rows if isinstance(r, Row)] == [5, None]


def test_other_batches_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="not list"):
        read_batch([{"url": "http://h/a"}])
    with pytest.raises(TypeError, match="a batch column is an array or a list, not str"):
        read_batch({"url": "http://h/a"})


def test_import_of_parget_ray_needs_none_of_rays_stack() -> None:
    # Each of these modules is made unimportable; parget.ray still imports.
    code = (
        "import sys\n"
        "for m in ('ray', 'numpy', 'pandas', 'pyarrow'): sys.modules[m] = None\n"
        "import parget, parget.ray\n"
        "d = parget.ray.Downloader('/tmp/x')\n"
        "print(d({'url': [None]})['error'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['url: missing']"
