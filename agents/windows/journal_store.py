"""The window state store over a raw Faust table: deferred writes made atomic by a journal.

Why: a Faust table write is a changelog record sent in the background. Written directly, a
crash could persist part of a batch's state (some keys, not the partition meta), and the replay
would count those events twice; or persist the whole batch before its results reached the output
topic, and the replay (skipped by the offset guard) would never emit them. So the manager's
writes of a batch are held here (visible to reads) until the caller has the batch's results
acknowledged, then hands them over (:meth:`take_plans`; :meth:`commit` writes a dict-backed
table directly), per partition and in this order: journal chunks, the journal header
``[seq, n_chunks]``, every key, a commit marker ``seq``. The agent's changelog writer ships them
in that order and applies them to RocksDB only once acknowledged. One partition's changelog
records keep their order, so after a crash either the header is missing (and so is every key
write of the batch: nothing to undo) or it is there, and :meth:`recovery_plan` gives the writes
that finish the journal when the marker does not match it. Keys are ``str`` (a Faust table's
key codec is JSON whatever its schema); values are JSON bytes written through as they are.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

import orjson

from tables.windows.layout import group_prefix

CHUNK_BYTES = 256 * 1024
#: Bucket entries per partition that hold the group-key entries (see JournaledStore).
GROUP_BUCKETS = 8
RawTable = MutableMapping[str, Any]
Write = tuple[str, bytes | None]
"""One table write of a plan: (key, JSON bytes), ``None`` deletes."""


def journal_key(name: str, partition: int) -> str:
    return f"j/{name}/{partition}"


def journal_chunk_key(name: str, partition: int, chunk: int) -> str:
    return f"j/{name}/{partition}/{chunk}"


def marker_key(name: str, partition: int) -> str:
    return f"c/{name}/{partition}"


def bucket_key(name: str, partition: int, bucket: int) -> str:
    return f"b/{name}/{partition}/{bucket}"


class JournaledStore:
    """A ``KeyValueStore`` for one pipeline; :meth:`use` names the partition being processed.

    Group-key entries (``w/{name}/{p}/k/...``, one per group key) are packed into
    ``group_buckets`` bucket entries per partition: with the embedded broker's one-record
    changelog batches every table write costs a round trip, and a batch touching a thousand
    keys would otherwise write a thousand changelog records.
    """

    def __init__(self, table: RawTable, name: str, group_buckets: int = GROUP_BUCKETS) -> None:
        self._table = table
        self._name = name
        self._n_buckets = group_buckets
        self._pending: dict[int, dict[str, bytes | None]] = {}
        self._writes: dict[str, bytes | None] = {}
        self._bucket_cache: dict[int, dict[str, dict[str, Any]]] = {}
        self._buckets: dict[str, dict[str, Any]] = {}
        self._dirty: dict[int, set[str]] = {}
        self._dirty_now: set[str] = set()
        self._partition = -1
        self._group_prefix = ""

    # ------------------------------------------------------------------ KeyValueStore
    def use(self, partition: int) -> None:
        self._partition = partition
        self._writes = self._pending.setdefault(partition, {})
        self._buckets = self._bucket_cache.setdefault(partition, {})
        self._dirty_now = self._dirty.setdefault(partition, set())
        self._group_prefix = group_prefix(self._name, partition)

    def _bucket(self, key: str) -> tuple[str, dict[str, Any]]:
        index = zlib.crc32(key.encode()) % self._n_buckets
        name = bucket_key(self._name, self._partition, index)
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = _decoded(self._table.get(name)) or {}
            self._buckets[name] = bucket
        return name, bucket

    def get(self, key: str, default: Any = None, /) -> Any:
        if key.startswith(self._group_prefix) and self._group_prefix:
            return self._bucket(key)[1].get(key, default)
        if key in self._writes:
            held = self._writes[key]
            return default if held is None else orjson.loads(held)
        value = _decoded(self._table.get(key))
        return default if value is None else value

    def __setitem__(self, key: str, value: Any, /) -> None:
        if key.startswith(self._group_prefix) and self._group_prefix:
            name, bucket = self._bucket(key)
            bucket[key] = value
            self._dirty_now.add(name)
            return
        self._writes.pop(key, None)
        self._writes[key] = orjson.dumps(value)

    def __delitem__(self, key: str, /) -> None:
        if key.startswith(self._group_prefix) and self._group_prefix:
            name, bucket = self._bucket(key)
            if bucket.pop(key, None) is not None:
                self._dirty_now.add(name)
            return
        self._writes.pop(key, None)
        self._writes[key] = None

    def __contains__(self, key: object, /) -> bool:
        if not isinstance(key, str):
            return False
        if key.startswith(self._group_prefix) and self._group_prefix:
            return key in self._bucket(key)[1]
        if key in self._writes:
            return self._writes[key] is not None
        return self._table.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        """Committed keys, group keys unpacked (ops and tests only: reads the whole table)."""
        for key in list(self._table):
            if key.startswith("b/"):
                yield from _decoded(self._table.get(key)) or {}
            else:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # ------------------------------------------------------------------ batch lifecycle
    def discard(self) -> None:
        """Forget every held write (the batch failed before its results were sent)."""
        self._pending.clear()
        self._bucket_cache.clear()
        self._dirty.clear()
        if self._partition >= 0:
            self.use(self._partition)

    def commit(self, partition: int, set_partition: Callable[[int], None]) -> int:
        """Write the partition's held writes to the table (journal first); returns records."""
        return self.commit_all([partition], set_partition)

    def commit_all(self, partitions: Sequence[int], set_partition: Callable[[int], None]) -> int:
        """Commit several partitions, their writes interleaved round-robin: each partition's
        order is kept (what recovery relies on) while the changelog partitions are written
        side by side instead of one after the other."""
        plans = [(p, self._plan(p)) for p in partitions]
        written = 0
        table = self._table
        for step in range(max((len(ops) for _, ops in plans), default=0)):
            for partition, ops in plans:
                if step >= len(ops):
                    continue
                set_partition(partition)
                key, value = ops[step]
                if value is not None:
                    table[key] = value
                elif table.get(key) is not None:
                    del table[key]
                else:
                    continue
                written += 1
        return written

    def take_plans(self, partitions: Sequence[int]) -> list[tuple[int, list[Write]]]:
        """The ordered writes of each partition's held batch, handed over (no longer held) for a
        writer that ships them to the changelog and then applies them
        (agents/windows/changelog_writer.py)."""
        return [(p, ops) for p in partitions if (ops := self._plan(p))]

    def _plan(self, partition: int) -> list[tuple[str, bytes | None]]:
        """The ordered table writes of a partition's commit: journal, header, keys, marker."""
        writes = self._pending.pop(partition, None) or {}
        buckets = self._bucket_cache.pop(partition, {})
        for name in sorted(self._dirty.pop(partition, ())):
            writes[name] = orjson.dumps(buckets[name]) if buckets[name] else None
        if partition == self._partition:
            self.use(partition)
        if not writes:
            return []
        chunks = _chunks(writes)
        seq = time.time_ns()
        ops: list[tuple[str, bytes | None]] = [
            (journal_chunk_key(self._name, partition, i), chunk) for i, chunk in enumerate(chunks)
        ]
        ops.append((journal_key(self._name, partition), orjson.dumps([seq, len(chunks)])))
        ops.extend(writes.items())
        ops.append((marker_key(self._name, partition), orjson.dumps(seq)))
        return ops

    def recovery_plan(self, partition: int) -> list[Write]:
        """The writes that finish the journal, marker last; empty when there is nothing to finish
        (reads the partition's state: the caller has made it the current partition)."""
        header = self._table.get(journal_key(self._name, partition))
        if header is None:
            return []
        seq, n_chunks = _decoded(header)
        marker = self._table.get(marker_key(self._name, partition))
        if marker is not None and _decoded(marker) == seq:
            return []
        ops: list[Write] = []
        for i in range(n_chunks):
            chunk = self._table.get(journal_chunk_key(self._name, partition, i))
            for key, value in _decoded(chunk) or ():
                ops.append((key, None if value is None else orjson.dumps(value)))
        ops.append((marker_key(self._name, partition), orjson.dumps(seq)))
        return ops

    def recover(self, partition: int, set_partition: Callable[[int], None]) -> int:
        """Finish a batch whose journal persisted but whose marker did not; returns keys fixed.
        Writes through the table (dict-backed tables; the agent ships :meth:`recovery_plan`)."""
        plan = self.recovery_plan(partition)
        if not plan:
            return 0
        set_partition(partition)
        *entries, (marker, seq) = plan
        fixed = _apply(self._table, entries)
        self._table[marker] = seq
        return fixed


def _decoded(value: Any) -> Any:
    """A table value: bytes written by us (dict tables), or already JSON-decoded by Faust (a
    Faust table's value codec is JSON whatever its schema; bytes are written through as is).
    No top-level value of the window layout is a string, so the two cannot be confused."""
    return orjson.loads(value) if isinstance(value, bytes | bytearray) else value


def _apply(table: RawTable, entries: Any) -> int:
    count = 0
    for key, value in entries:
        if value is None:
            if table.get(key) is not None:
                del table[key]
                count += 1
        else:
            table[key] = value
            count += 1
    return count


def _chunks(writes: dict[str, bytes | None]) -> list[bytes]:
    chunks: list[bytes] = []
    current: list[Any] = []
    size = 0
    for key, value in writes.items():
        current.append([key, None if value is None else orjson.Fragment(value)])
        size += len(key) + (len(value) if value is not None else 4) + 8
        if size >= CHUNK_BYTES:
            chunks.append(orjson.dumps(current))
            current, size = [], 0
    if current or not chunks:
        chunks.append(orjson.dumps(current))
    return chunks
