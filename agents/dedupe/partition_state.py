"""The stream stage's key -> first-seen state for one partition, read and written directly in the
Faust table's RocksDB partition (no per-key changelog send; the caller ships `writes` as one batch).

Each entry also stores the highest source offset of the batch that wrote it, and every partition
keeps a *forwarded marker*: the highest source offset whose output the broker acknowledged. An
entry above the marker was written by a batch whose output may never have been sent (crash or
failed send before the acknowledgement), so when that batch is replayed the entry does not count
as a sighting: the record is forwarded again instead of being lost as a "duplicate".

Changelog format: a batch's writes to a partition travel as one *packed* changelog record (key
`PACKED_PREFIX` + batch offset + chunk number), not one record per key. On the embedded broker
every changelog record must be its own produce batch (its end offsets are wrong after
multi-record batches, see app/broker_profile.py), which capped the stage at the broker's request
rate (~7k entries/s here, measured: exact mode 4.1k records/s against 9.2k with batched sends).
Faust's recovery stores a packed record like any other key; `expand_packed` unpacks it into
per-key entries before the partition is next used, and leaves an *index* key (local only) with
the batch's newest clock, so pruning can tombstone whole packed records once every entry of the
batch has expired (a compacted changelog then stays bounded).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import rocksdict

ENTRY = struct.Struct("<qq")  # first-seen clock (ms), highest source offset of the writing batch
MARKER = struct.Struct("<q")
FORWARDED_MARKER_KEY = b"\x00datanexus-forwarded"
NO_MARKER = -1
FAUST_OFFSET_KEY = b"__faust\x00offset__"  # Faust's RocksDB store: last changelog offset applied
PACKED_PREFIX = b"\x00dn-batch:"
INDEX_PREFIX = b"\x00dn-index:"
PACKED_KEY = struct.Struct(">qI")  # batch offset, chunk: big-endian, so keys sort in batch order
PACKED_ITEM = struct.Struct("<IB")  # key length, 1 = entry follows / 0 = deleted
CLOCK = struct.Struct("<q")
MAX_PACKED_ENTRIES = 5_000  # keeps a packed record far below the broker's message size limit


def is_entry(key: bytes, value: bytes) -> bool:
    """Not the stage's own keys (marker, packed records, index: all start with a zero byte),
    not Faust's own keys (e.g. its persisted changelog offset)."""
    return not key.startswith((b"\x00", b"__faust")) and len(value) == ENTRY.size


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

    def apply(self, write_batch: Any) -> list[tuple[bytes, bytes]]:
        """Write this batch's entries into the local partition (one RocksDB write); returns
        the packed changelog records that carry them (empty when nothing was written)."""
        for key, value in self.writes.items():
            if value is None:
                write_batch.delete(key)
            else:
                write_batch.put(key, value)
        records = pack_writes(self._batch_offset, self.writes)
        newest = newest_clock(self.writes.values())
        for packed_key, _ in records:
            write_batch.put(index_key(packed_key), CLOCK.pack(newest))
        self._db.write(write_batch)
        return records


def unpack_clock(raw: bytes) -> int:
    return int(CLOCK.unpack(raw)[0])


def newest_clock(values: Iterable[bytes | None]) -> int:
    return max((ENTRY.unpack(v)[0] for v in values if v is not None), default=0)


def index_key(packed_key: bytes) -> bytes:
    return INDEX_PREFIX + packed_key[len(PACKED_PREFIX) :]


def packed_key_of(index: bytes) -> bytes:
    return PACKED_PREFIX + index[len(INDEX_PREFIX) :]


def pack_writes(batch_offset: int, writes: dict[bytes, bytes | None]) -> list[tuple[bytes, bytes]]:
    """The changelog records for one batch's writes: `MAX_PACKED_ENTRIES` entries per record."""
    items = list(writes.items())
    records: list[tuple[bytes, bytes]] = []
    for chunk, first in enumerate(range(0, len(items), MAX_PACKED_ENTRIES)):
        parts: list[bytes] = []
        for key, value in items[first : first + MAX_PACKED_ENTRIES]:
            parts.append(PACKED_ITEM.pack(len(key), value is not None))
            parts.append(key)
            if value is not None:
                parts.append(value)
        records.append((PACKED_PREFIX + PACKED_KEY.pack(batch_offset, chunk), b"".join(parts)))
    return records


def unpack_writes(packed: bytes) -> Iterator[tuple[bytes, bytes | None]]:
    at, end = 0, len(packed)
    while at < end:
        length, present = PACKED_ITEM.unpack_from(packed, at)
        at += PACKED_ITEM.size
        key = packed[at : at + length]
        at += length
        if present:
            yield key, packed[at : at + ENTRY.size]
            at += ENTRY.size
        else:
            yield key, None


def packed_keys(db: Any, prefix: bytes) -> list[tuple[bytes, bytes]]:
    """Keys (and values) under `prefix`, in key order (packed records: batch order)."""
    found: list[tuple[bytes, bytes]] = []
    for key, value in db.items(from_key=prefix):
        if not bytes(key).startswith(prefix):
            break
        found.append((bytes(key), bytes(value)))
    return found


def expand_packed(db: Any) -> int:
    """Unpack packed changelog records that Faust's recovery (or a standby) stored in `db` into
    per-key entries, in batch order; returns how many records were expanded."""
    packed = packed_keys(db, PACKED_PREFIX)
    if not packed:
        return 0
    batch = rocksdict.WriteBatch(raw_mode=True)
    for key, value in packed:
        writes = dict(unpack_writes(value))
        for entry_key, entry in writes.items():
            if entry is None:
                batch.delete(entry_key)
            else:
                batch.put(entry_key, entry)
        batch.delete(key)
        batch.put(index_key(key), CLOCK.pack(newest_clock(writes.values())))
    db.write(batch)
    return len(packed)


def marker_value(offset: int, output_ends: dict[int, int]) -> bytes:
    return MARKER.pack(offset) + orjson.dumps({str(p): end for p, end in output_ends.items()})
