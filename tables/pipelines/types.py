"""Interfaces of the pipeline package: the key-value store it persists into and the stage engines.

``KeyValueStore`` is the one shared by all state modules (``tables/types.py``): the app passes
Faust tables (RocksDB + changelog), unit tests pass dicts.
Faust only sends a changelog entry on ``__setitem__``/``__delitem__``, so the stores here never
mutate a stored value in place: every write assigns a fresh JSON-compatible value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeAlias, TypeVar

from tables.types import KeyValueStore

JsonValue: TypeAlias = Any
"""A JSON-compatible value (dict/list/str/int/float/bool/None); ``Any`` because mypy lacks
recursive aliases that interoperate with ``json``/``orjson`` return types."""

Record: TypeAlias = dict[str, Any]

T = TypeVar("T")

__all__ = ["KeyValueStore"]


def iter_keys(store: KeyValueStore) -> Iterator[str]:
    """Keys of a store as strings (Faust tables may yield non-str keys for foreign data)."""
    for key in store:
        if isinstance(key, str):
            yield key


@dataclass(frozen=True)
class DroppedRecord:
    """A record a step removed, with the reason (the runner may send it to a dead-letter topic)."""

    record: Record
    step_index: int
    step_type: str
    reason: str


class StageResult(NamedTuple):
    """What a step (or the whole pipeline) made of a batch: records passed on and dropped."""

    outputs: list[Record]
    dropped: list[DroppedRecord]


class BatchStage(Protocol):
    """A stateful step implemented by an engine (dedupe, window) and handed to ``compile_pipeline``.

    ``process`` receives a whole batch so the engine can do one Redis round trip or one table write
    per key per batch. A window stage returns the window results it emits (often none) as outputs.
    """

    async def process(self, records: list[Record]) -> StageResult: ...


class StageFactory(Protocol):
    """Builds the engine stage for one step config (the step's JSON object, already validated)."""

    def __call__(self, step: dict[str, Any], step_index: int, /) -> BatchStage: ...


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a pipeline document: a JSON pointer to the bad field and a message."""

    pointer: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``page`` starts at 1, ``total`` counts all items on every page."""

    items: Sequence[T]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return (self.total + self.page_size - 1) // self.page_size

    @property
    def has_next(self) -> bool:
        return self.page < self.pages
