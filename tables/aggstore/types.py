"""Interfaces of the aggregate store: what the window engine writes and the query engine reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    """One window result as the window engine emits it.

    ``aggregates`` maps ``"<field>.<fn>"`` (e.g. ``"amount.sum"``) to a number; ``final`` is False
    while the window is still open (``on_update`` emit mode) and True once it has closed.
    """

    metric: str
    key: str
    start_ms: int
    end_ms: int
    aggregates: Mapping[str, float] = field(default_factory=dict)
    final: bool = True


class AggregateStore(Protocol):
    """Storage of window results, ordered by (metric, window start, group key).

    Implementations: ``RocksAggregateStore`` (rocksdict, production) and ``InMemoryAggregateStore``
    (sorted lists, unit tests). A later write of the same (metric, start, key) replaces the earlier
    one, which is how open windows get updated and then finalised.
    """

    retention_ms: int | None

    def put_many(self, records: Iterable[WindowAggregate]) -> int:
        """Write (upsert) the records in one batch; returns how many were written."""
        ...

    def range(self, metric: str, from_ms: int, to_ms: int) -> Iterator[WindowAggregate]:
        """Windows of ``metric`` whose start is in ``[from_ms, to_ms)``, by start then key."""
        ...

    def delete_before(self, cutoff_ms: int) -> int:
        """Drop every window (all metrics) starting before ``cutoff_ms``; returns the count."""
        ...

    def apply_retention(self, now_ms: int) -> int:
        """``delete_before(now_ms - retention_ms)``; no-op when ``retention_ms`` is None."""
        ...

    def metrics(self) -> list[str]:
        """Names of the metrics that have at least one stored window."""
        ...
