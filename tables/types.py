"""Interfaces shared by the state modules in ``tables``.

State managers never talk to Faust directly: they take a :class:`KeyValueStore`, which a Faust
table (RocksDB + changelog) satisfies as it is, and which unit tests satisfy with a plain dict.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class KeyValueStore(Protocol):
    """The subset of ``MutableMapping[str, Any]`` a state manager may use.

    Values must be JSON-serialisable (lists, dicts, str, int, float, bool, None) so that a Faust
    table with ``value_serializer="json"`` can hold them. Each ``__setitem__``/``__delitem__`` on a
    Faust table is one changelog record, so managers batch their writes.
    """

    def get(self, key: str, default: Any = None, /) -> Any: ...

    def __setitem__(self, key: str, value: Any, /) -> None: ...

    def __delitem__(self, key: str, /) -> None: ...

    def __contains__(self, key: object, /) -> bool: ...

    def __iter__(self) -> Iterator[str]: ...

    def __len__(self) -> int: ...
