"""Interfaces and public modes of the connect runtime."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

Headers = tuple[tuple[str, bytes | None], ...]
ConnectSchema = Mapping[str, Any]
"""A Connect schema in the JsonConverter envelope form: {"type": "struct", "fields": [...]}."""


class ConnectorType(enum.StrEnum):
    SOURCE = "source"
    SINK = "sink"


class ErrorTolerance(enum.StrEnum):
    NONE = "none"
    ALL = "all"


class TargetState(enum.StrEnum):
    STARTED = "STARTED"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"


class State(enum.StrEnum):
    """Status of a connector or task, as Kafka Connect reports it."""

    UNASSIGNED = "UNASSIGNED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"


class ConfigType(enum.StrEnum):
    STRING = "STRING"
    INT = "INT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    BOOLEAN = "BOOLEAN"
    LIST = "LIST"
    CLASS = "CLASS"
    PASSWORD = "PASSWORD"


class Importance(enum.StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


@dataclass(frozen=True)
class ConnectRecord:
    """One record between a connector and Kafka; transforms return new ones (or None)."""

    topic: str
    value: Any
    key: Any = None
    value_schema: ConnectSchema | None = None
    key_schema: ConnectSchema | None = None
    partition: int | None = None
    timestamp: int | None = None
    headers: Headers = field(default_factory=tuple)
    kafka_offset: int | None = None
    source_partition: Mapping[str, Any] | None = None
    source_offset: Mapping[str, Any] | None = None

    def with_(self, **changes: Any) -> ConnectRecord:
        return replace(self, **changes)


OffsetReader = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]


class Transform(Protocol):
    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        """The transformed record, or None to drop it."""
        ...


class Predicate(Protocol):
    def __call__(self, record: ConnectRecord) -> bool: ...


class Converter(Protocol):
    """Bytes <-> (schema, value), like Kafka Connect's Converter."""

    def from_connect(
        self, topic: str, schema: ConnectSchema | None, value: Any
    ) -> bytes | None: ...

    def to_connect(self, topic: str, data: bytes | None) -> tuple[ConnectSchema | None, Any]: ...


class SourceTask(Protocol):
    """Polls records from outside; offsets are committed only after Kafka acknowledged them."""

    async def start(self, offsets: OffsetReader) -> None:
        """``offsets(partition)``: the last committed offset of a source partition, if any."""
        ...

    async def poll(self) -> Sequence[ConnectRecord]: ...

    async def stop(self) -> None: ...


class SinkTask(Protocol):
    """Writes records outside; a batch that returns was written (offsets commit after it)."""

    async def start(self) -> None: ...

    async def put(self, records: Sequence[ConnectRecord]) -> None: ...

    async def stop(self) -> None: ...


class ConnectorError(Exception):
    """A record or a task failed; the message ends up in DLQ headers or the task status."""


class RetriableError(ConnectorError):
    """The destination was temporarily unavailable: the batch may be retried."""
