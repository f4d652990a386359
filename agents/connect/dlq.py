"""Error handling per ``errors.tolerance``: dead-letter records with Kafka Connect's headers."""

from __future__ import annotations

import enum
import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.producer import FastProducer

log = logging.getLogger(__name__)

H = "__connect.errors."


class Stage(enum.StrEnum):
    """Where a record failed (Kafka Connect's ``__connect.errors.stage`` values)."""

    KEY_CONVERTER = "KEY_CONVERTER"
    VALUE_CONVERTER = "VALUE_CONVERTER"
    TRANSFORMATION = "TRANSFORMATION"
    TASK_PUT = "TASK_PUT"
    TASK_POLL = "TASK_POLL"


@dataclass(frozen=True)
class FailedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    stage: Stage
    error: BaseException
    stage_class: str = ""


def error_headers(connector: str, task_id: int, failed: FailedRecord) -> list[tuple[str, bytes]]:
    exc = failed.error
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return [
        (H + "topic", failed.topic.encode()),
        (H + "partition", str(failed.partition).encode()),
        (H + "offset", str(failed.offset).encode()),
        (H + "connector.name", connector.encode()),
        (H + "task.id", str(task_id).encode()),
        (H + "stage", failed.stage.value.encode()),
        (H + "class.name", failed.stage_class.encode()),
        (H + "exception.class.name", type(exc).__qualname__.encode()),
        (H + "exception.message", str(exc).encode()),
        (H + "exception.stacktrace", trace.encode()),
    ]


class DeadLetterQueue:
    """Collects a batch's failed records and writes them with one produce call."""

    def __init__(
        self, producer: FastProducer, topic: str, connector: str, task_id: int, headers: bool
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.connector = connector
        self.task_id = task_id
        self.headers = headers
        self.count = 0

    async def send(self, failed: list[FailedRecord]) -> None:
        if not failed:
            return
        self.count += len(failed)
        if not self.topic:
            for f in failed:
                log.warning("%s[%d] skipped a record: %s", self.connector, self.task_id, f.error)
            return
        out: list[Any] = [
            (
                f.key,
                f.value,
                error_headers(self.connector, self.task_id, f) if self.headers else None,
            )
            for f in failed
        ]
        await self.producer.send_batch(self.topic, out)


def tolerance_all(config: Mapping[str, Any]) -> bool:
    return str(config.get("errors.tolerance") or "none").lower() == "all"
