"""An in-process log for unit tests; several stores on one ``MemoryLog`` act like instances
sharing a topic, each reading it only when it writes or syncs (so they can lag like real ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.registry.records import Record
from schemas.registry.state import RegistryState


@dataclass
class MemoryLog:
    records: list[Record] = field(default_factory=list)


class MemoryStore:
    def __init__(self, log: MemoryLog | None = None) -> None:
        self.log = log if log is not None else MemoryLog()
        self._state = RegistryState()
        self._position = 0

    @property
    def state(self) -> RegistryState:
        return self._state

    async def start(self) -> None:
        await self.sync()

    async def stop(self) -> None:
        return None

    async def append(self, records: Sequence[Record]) -> None:
        self.log.records.extend(records)
        await self.sync()

    async def sync(self) -> None:
        while self._position < len(self.log.records):
            self._state.apply(self.log.records[self._position], self._position)
            self._position += 1
