"""The stream stage's key -> first-seen state for one partition, read and written directly in the
Faust table's RocksDB partition (no per-key changelog send; the caller ships `writes` as one batch).

Each entry also stores the highest source offset of the batch that wrote it, and every partition
keeps a *forwarded marker*: the highest source offset whose output the broker acknowledged. An
entry above the marker was written by a batch whose output may never have been sent (crash or
failed send before the acknowledgement), so when that batch is replayed the entry does not count
as a sighting: the record is forwarded again instead of being lost as a "duplicate".
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import orjson

ENTRY = struct.Struct("<qq")  # first-seen clock (ms), highest source offset of the writing batch
MARKER = struct.Struct("<q")
FORWARDED_MARKER_KEY = b"\x00datanexus-forwarded"
NO_MARKER = -1


def is_entry(key: bytes, value: bytes) -> bool:
    """Not the marker, not Faust's own keys (e.g. its persisted changelog offset)."""
    return (
        key != FORWARDED_MARKER_KEY and not key.startswith(b"__faust") and len(value) == ENTRY.size
    )


def read_marker(db: Any) -> int:
    raw = db.get(FORWARDED_MARKER_KEY)
    return NO_MARKER if raw is None else int(MARKER.unpack_from(raw)[0])


def read_marker_output_ends(db: Any) -> dict[int, int]:
    """Where the output topic's partitions ended when the marker was written."""
    raw = db.get(FORWARDED_MARKER_KEY)
    if raw is None or len(raw) <= MARKER.size:
        return {}
    return {int(p): int(end) for p, end in orjson.loads(raw[MARKER.size :]).items()}


class PartitionState:
    """A `DedupeState` over one RocksDB partition for one batch of that partition."""

    def __init__(self, db: Any, batch_offset: int) -> None:
        self.db = db
        self._db = db
        self._batch_offset = batch_offset
        self._marker = read_marker(db)
        self.writes: dict[bytes, bytes | None] = {}
        self.replayed: set[str] = set()
        """State keys whose entry was ignored as an unforwarded earlier attempt."""

    def get(self, key: str, /) -> int | None:
        encoded = key.encode()
        if encoded in self.writes:
            pending = self.writes[encoded]
            return None if pending is None else int(ENTRY.unpack(pending)[0])
        raw = self._db.get(encoded)
        if raw is None:
            return None
        clock, written_by = ENTRY.unpack(raw)
        if written_by > self._marker:
            self.replayed.add(key)
            return None
        return int(clock)

    def __setitem__(self, key: str, value: int, /) -> None:
        self.writes[key.encode()] = ENTRY.pack(value, self._batch_offset)

    def __delitem__(self, key: str, /) -> None:
        self.writes[key.encode()] = None

    def __contains__(self, key: object, /) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        for key, value in self._db.items():
            if is_entry(key, value):
                yield bytes(key).decode()

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def apply(self, write_batch: Any) -> None:
        """Write this batch's entries into the local partition (one RocksDB write)."""
        for key, value in self.writes.items():
            if value is None:
                write_batch.delete(key)
            else:
                write_batch.put(key, value)
        self._db.write(write_batch)


def marker_value(offset: int, output_ends: dict[int, int]) -> bytes:
    return MARKER.pack(offset) + orjson.dumps({str(p): end for p, end in output_ends.items()})
