"""Interfaces of the de-duplication stage: records, state tables, verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypedDict

LATE_HEADER = ("datanexus-duplicate", b"late")


class Record(TypedDict):
    id: str
    source: str | None
    event_time: int
    payload: dict[str, Any]
    ingested_at: int


class DedupeState(Protocol):
    """Key -> first-seen clock (ms). A Faust table (RocksDB + changelog) satisfies this, as
    does a plain dict; the engine reads and writes each key at most once per batch."""

    def get(self, key: str, /) -> int | None: ...

    def __setitem__(self, key: str, value: int, /) -> None: ...

    def __delitem__(self, key: str, /) -> None: ...

    def __contains__(self, key: object, /) -> bool: ...

    def __iter__(self) -> Iterator[str]: ...

    def __len__(self) -> int: ...


class DedupeResult(StrEnum):
    UNIQUE = "unique"
    DUPLICATE = "duplicate"
    LATE = "late"


class DedupeAction(StrEnum):
    """What the caller does with the record; the engine decides, the caller emits."""

    FORWARD = "forward"
    FLAG = "flag"  # forward with header datanexus-duplicate: late
    DROP = "drop"
    DLQ = "dlq"


class DedupeStage(StrEnum):
    """Where the engine runs.

    EDGE (HTTP ingest): the shared Redis keys are authoritative; a key another instance set
    makes the record a duplicate. STREAM (Faust worker): the local table is authoritative and
    Redis is a write-only mirror, so ids the edge already mirrored are not mistaken for
    duplicates.
    """

    EDGE = "edge"
    STREAM = "stream"


@dataclass(frozen=True, slots=True)
class Verdict:
    result: DedupeResult
    action: DedupeAction
    reason: str
    key: str

    @property
    def forward(self) -> bool:
        return self.action in (DedupeAction.FORWARD, DedupeAction.FLAG)
