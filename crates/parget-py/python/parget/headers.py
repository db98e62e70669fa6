"""Response headers: a read-only mapping with case-insensitive names.

``result.headers["Content-Type"]`` and ``result.headers["content-type"]``
are the same value. A header sent several times keeps every value:
``headers[name]`` is the first, ``headers.getall(name)`` all of them (the
spelling of aiohttp's ``CIMultiDictProxy``, which pulp's downloaders hand
their callbacks). Names are lower-case, as HTTP/2 sends them.
"""

from __future__ import annotations

from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, TypeVar, Union, overload

__all__ = ["Headers"]

_T = TypeVar("_T")


class Headers(Mapping[str, str]):
    """Headers by case-insensitive name. Iterating gives each name once
    (lower-case, in the order first sent); :meth:`items` pairs each name
    with its first value, :meth:`multi_items` gives every pair as sent."""

    __slots__ = ("_pairs", "_values")

    def __init__(self, pairs: Iterable[Tuple[str, str]] = ()) -> None:
        self._pairs: Tuple[Tuple[str, str], ...] = tuple((name.lower(), value) for name, value in pairs)
        self._values: Dict[str, List[str]] = {}
        for name, value in self._pairs:
            self._values.setdefault(name, []).append(value)

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()][0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def getall(self, name: str) -> List[str]: ...
    @overload
    def getall(self, name: str, default: _T) -> Union[List[str], _T]: ...
    def getall(self, name: str, default: Optional[object] = KeyError) -> object:
        """Every value of ``name``, in the order sent. Raises ``KeyError``
        for a header that was not sent, unless ``default`` is given."""
        values = self._values.get(name.lower())
        if values is not None:
            return list(values)
        if default is KeyError:
            raise KeyError(name)
        return default

    def multi_items(self) -> List[Tuple[str, str]]:
        """Every ``(name, value)`` pair, in the order sent."""
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({list(self._pairs)!r})"

    def __reduce__(self) -> Tuple[type, Tuple[Tuple[Tuple[str, str], ...]]]:
        return (Headers, (self._pairs,))
