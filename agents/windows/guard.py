"""Drops records that a restarted repartition stage produced a second time.

The repartition stage commits its source offsets only after their copies were acknowledged, so a
crash can re-produce copies with new offsets in the repartitioned topic, where the manager's
offset guard cannot recognise them. Each copy carries its source (partition, offset); per input
partition the highest source offset applied per source partition is kept in the window state
(written in the same journaled batch as the windows, so the two never disagree). One source
partition's records reach an input partition in source order, so a copy at or below that offset
is a duplicate.
"""

from __future__ import annotations

from typing import Any

from tables.types import KeyValueStore
from tables.windows.layout import LAST_OFFSET, meta_key


def guard_key(name: str, partition: int) -> str:
    return f"g/{name}/{partition}"


class ReplayGuard:
    def __init__(self, store: KeyValueStore, name: str, partition: int) -> None:
        self._store = store
        self._key = guard_key(name, partition)
        meta = store.get(meta_key(name, partition))
        self.applied_offset: int = -1 if meta is None else int(meta[LAST_OFFSET])
        stored: dict[str, int] = store.get(self._key) or {}
        self._seen = {int(p): int(o) for p, o in stored.items()}
        self._changed = False

    def admit(self, offset: int, source_partition: int, source_offset: int) -> bool:
        """False for a duplicate copy; True for a fresh record or an offset-guarded replay."""
        if offset <= self.applied_offset:
            return True  # the manager skips it as replayed
        if source_offset <= self._seen.get(source_partition, -1):
            return False
        self._seen[source_partition] = source_offset
        self._changed = True
        return True

    def save(self) -> None:
        if self._changed:
            self._store[self._key] = {str(p): o for p, o in self._seen.items()}
            self._changed = False

    def seen(self) -> dict[int, Any]:
        return dict(self._seen)
