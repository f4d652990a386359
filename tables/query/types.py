"""Interfaces the query engine depends on (storage of aggregates lives in tables.aggstore)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Clock = Callable[[], int]
"""Returns 'now' in epoch milliseconds; injected so tests control TTLs and relative ranges."""


class InvalidationPublisher(Protocol):
    """Tells other instances that a metric's range changed (e.g. ``RedisInvalidationBus``)."""

    async def publish(self, metric: str, from_ms: int, to_ms: int) -> None: ...


class KeyValueStore(Protocol):
    """Minimal KV for saved dashboards; a Faust table or Redis hash can back it."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def list_keys(self) -> list[str]: ...
