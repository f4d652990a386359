"""What :meth:`WindowStateManager.process_batch` hands back for the caller to emit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tables.windows.types import Event, LateReason


@dataclass(frozen=True, slots=True)
class WindowResult:
    """One emitted window.

    ``start``/``end`` are the window bounds in ms; for count windows they are the earliest and
    latest event times in the window. ``revision`` counts earlier emissions of the window (0 for
    the first); a consumer keeps, per (name, key, start), the record with the highest revision.
    """

    name: str
    key: list[Any]
    start: int
    end: int
    aggregates: dict[str, dict[str, Any]]
    final: bool
    revision: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "start": self.start,
            "end": self.end,
            "aggregates": self.aggregates,
            "final": self.final,
            "revision": self.revision,
        }


@dataclass(frozen=True, slots=True)
class LateRecord:
    """An event that missed a closed window, for the side output."""

    name: str
    key: list[Any]
    event: Event
    reason: LateReason
    watermark: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "timestamp": self.event.timestamp,
            "value": dict(self.event.value),
            "reason": self.reason.value,
            "watermark": self.watermark,
        }


@dataclass(slots=True)
class BatchResult:
    """Results of one batch; the caller produces them (updated/closed to the output topic).

    ``late`` holds side-output records (policy ``side_output`` only). ``dropped`` counts late
    events discarded (policy ``drop``, or ``update`` beyond the allowed lateness);
    ``late_updates`` counts late events accepted into closed windows (policy ``update``).
    ``replayed`` counts events skipped because their offset was already applied.
    ``store_writes`` counts store writes/deletes (changelog records with a Faust table).
    """

    updated: list[WindowResult] = field(default_factory=list)
    closed: list[WindowResult] = field(default_factory=list)
    late: list[LateRecord] = field(default_factory=list)
    dropped: int = 0
    late_updates: int = 0
    watermark: int = 0
    store_writes: int = 0
    replayed: int = 0
