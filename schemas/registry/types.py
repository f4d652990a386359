"""The registry's storage interface: an ordered log of records read back into ``RegistryState``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from schemas.registry.records import Record
from schemas.registry.state import RegistryState


class SchemaStore(Protocol):
    """A log every instance reads in order; the Kafka topic ``_schemas`` in production."""

    @property
    def state(self) -> RegistryState:
        """Everything read so far; mutated only by the store, in log order."""
        ...

    async def start(self) -> None:
        """Read the log up to its current end before returning."""
        ...

    async def stop(self) -> None: ...

    async def append(self, records: Sequence[Record]) -> None:
        """Write ``records``; return once all of them have been read back into ``state``.

        Records of one call must not depend on each other's order.
        """
        ...

    async def sync(self) -> None:
        """Return once every record written before the call has been read back."""
        ...
