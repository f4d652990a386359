"""Local RocksDB state of a pipeline's window steps, written once per batch after the sink ack.

One database per pipeline (``<data_dir>/<app_id>/pipelines/<id>``); each window step keeps its
keys under its own prefix (``s/<step index>/<config hash>/``), so state belongs to one pipeline
and one step config. Writes of a batch are held in memory (visible to reads) until
:meth:`PipelineStateDb.commit`, which writes them together with the highest source offset applied
per topic-partition in one atomic RocksDB write batch. :meth:`PipelineStateDb.discard` drops them
when the batch failed before its outputs were acknowledged, so a retry starts from the last
committed state.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
from rocksdict import Options, Rdict, WriteBatch

APPLIED_KEY = b"applied"
"""``{"<topic>/<partition>": offset}``: the highest source offset whose effects are stored."""


def tp_key(topic: str, partition: int) -> str:
    """Topic names cannot contain ``/`` (``[A-Za-z0-9._-]``), so the key is unambiguous."""
    return f"{topic}/{partition}"


class PipelineStateDb:
    """The pipeline's database plus the writes of the batch in flight."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db: Rdict | None = Rdict(str(path), options=Options(raw_mode=True))
        self._pending: dict[bytes, bytes | None] = {}
        raw = self.db.get(APPLIED_KEY)
        self.applied: dict[str, int] = orjson.loads(raw) if raw else {}
        self._pending_applied: dict[str, int] = {}

    @property
    def db(self) -> Rdict:
        if self._db is None:
            raise RuntimeError(f"pipeline state {self.path} is closed")
        return self._db

    # ------------------------------------------------------------------ reads and held writes
    def get(self, key: bytes) -> bytes | None:
        if key in self._pending:
            return self._pending[key]
        value: bytes | None = self.db.get(key)
        return value

    def put(self, key: bytes, value: bytes | None) -> None:
        self._pending[key] = value

    def write_now(self, key: bytes, value: bytes | None) -> None:
        """Written at once, outside the batch's commit (see :class:`InFlightJournal`)."""
        self._pending.pop(key, None)
        if value is None:
            self.db.delete(key)
        else:
            self.db.put(key, value)

    def keys_with_prefix(self, prefix: bytes) -> Iterator[bytes]:
        seen: set[bytes] = set()
        for key in self.db.keys(from_key=prefix):
            if not isinstance(key, bytes) or not key.startswith(prefix):
                break
            seen.add(key)
            if self._pending.get(key, b"") is not None:
                yield key
        for key, value in list(self._pending.items()):
            if key.startswith(prefix) and key not in seen and value is not None:
                yield key

    # ------------------------------------------------------------------ replay guard
    def is_applied(self, topic: str, partition: int, offset: int) -> bool:
        return offset <= self.applied.get(tp_key(topic, partition), -1)

    def mark_applied(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """The batch in flight covers these offsets; recorded by the next :meth:`commit`."""
        for (topic, partition), offset in offsets.items():
            key = tp_key(topic, partition)
            if offset > max(self.applied.get(key, -1), self._pending_applied.get(key, -1)):
                self._pending_applied[key] = offset

    # ------------------------------------------------------------------ batch end
    def commit(self) -> None:
        """State writes and applied offsets in one atomic write (call after the sink ack)."""
        if not self._pending and not self._pending_applied:
            return
        applied = {**self.applied, **self._pending_applied}
        batch = WriteBatch(raw_mode=True)
        for key, value in self._pending.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(APPLIED_KEY, orjson.dumps(applied))
        self.db.write(batch)
        self.applied = applied
        self._pending.clear()
        self._pending_applied.clear()

    def discard(self) -> None:
        self._pending.clear()
        self._pending_applied.clear()

    def drop_prefix(self, prefix: bytes) -> None:
        """Deletes a step's state (its config changed or it was removed) at once."""
        batch = WriteBatch(raw_mode=True)
        for key in list(self.keys_with_prefix(prefix)):
            batch.delete(key)
            self._pending.pop(key, None)
        self.db.write(batch)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def destroy(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)


class InFlightJournal:
    """What a step did outside the db (in Redis) for the batch in flight: written before it does
    it, deleted in the batch's commit. Found at start, it names the effects of a batch that never
    committed, which the step then undoes before its replay."""

    def __init__(self, state: PipelineStateDb, key: str) -> None:
        self._state = state
        self._key = key.encode()

    def load(self) -> Any:
        raw = self._state.get(self._key)
        return None if raw is None else orjson.loads(raw)

    def write(self, value: Any) -> None:
        self._state.write_now(self._key, orjson.dumps(value))

    def clear_with_commit(self) -> None:
        self._state.put(self._key, None)

    def clear_now(self) -> None:
        self._state.write_now(self._key, None)


class PrefixStore:
    """A window step's ``KeyValueStore``: JSON values under one key prefix of the pipeline db."""

    def __init__(self, state: PipelineStateDb, prefix: str) -> None:
        self._state = state
        self.prefix = prefix
        self._raw_prefix = prefix.encode()

    def get(self, key: str, default: Any = None, /) -> Any:
        raw = self._state.get(self._raw_prefix + key.encode())
        return default if raw is None else orjson.loads(raw)

    def __setitem__(self, key: str, value: Any, /) -> None:
        self._state.put(self._raw_prefix + key.encode(), orjson.dumps(value))

    def __delitem__(self, key: str, /) -> None:
        if key not in self:
            raise KeyError(key)
        self._state.put(self._raw_prefix + key.encode(), None)

    def __contains__(self, key: object, /) -> bool:
        if not isinstance(key, str):
            return False
        return self._state.get(self._raw_prefix + key.encode()) is not None

    def __iter__(self) -> Iterator[str]:
        start = len(self._raw_prefix)
        for key in self._state.keys_with_prefix(self._raw_prefix):
            yield key[start:].decode()

    def __len__(self) -> int:
        return sum(1 for _ in self)
