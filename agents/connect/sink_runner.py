"""Sink task loop: consume (group ``connect-{name}``) -> converters -> transforms -> put -> commit.

Offsets are committed only after ``put`` returned, so every record is written at least once;
the built-in sinks write idempotently (upsert by key), which makes redelivery harmless.
Bad records go to the dead-letter topic with ``errors.tolerance=all`` (a failing batch is split
to find them); with ``none`` the task fails and its status carries the trace.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from confluent_kafka import Consumer, Message

from agents.connect.chain import apply_chain
from agents.connect.dlq import FailedRecord, Stage
from agents.connect.runner import TaskRunner
from agents.connect.types import ConnectorError, ConnectRecord, RetriableError, SinkTask
from agents.group_consumer import next_offsets

log = logging.getLogger(__name__)
POLL_TIMEOUT_S = 0.2
RETRIES = 6


def sink_group(connector: str) -> str:
    return f"connect-{connector}"


def subscription(config: dict[str, str]) -> list[str]:
    regex = config.get("topics.regex")
    if regex:
        return ["^" + regex.removeprefix("^")]
    return [t.strip() for t in str(config.get("topics") or "").split(",") if t.strip()]


class SinkTaskRunner(TaskRunner):
    batch_size = 1000

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def run(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"sink-{self.name}")
        self.batch_size = int(self.config.get("batch.size") or 1000)
        task: SinkTask = self.plugin.create_task(self.config, self.context)  # type: ignore[assignment]
        consumer = Consumer(
            {
                "bootstrap.servers": self.deps.bootstrap,
                "group.id": sink_group(self.name),
                "client.id": f"{self.name}-{self.task_id}-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **self.deps.consumer_config,
            }
        )
        consumer.subscribe(subscription(self.config))
        try:
            await self._with_retries(task.start)
            self.mark_running()
            paused = False
            while not self.stopping:
                if self.paused != paused:
                    paused = self.paused
                    assignment = await self._call(consumer.assignment)
                    await self._call(consumer.pause if paused else consumer.resume, assignment)
                messages: list[Message] = await self._call(
                    consumer.consume, self.batch_size, POLL_TIMEOUT_S
                )
                messages = [m for m in messages if m.error() is None]
                if not messages or paused:
                    continue
                await self._handle(task, messages)
                offsets = next_offsets(messages)
                await self._call(partial(consumer.commit, offsets=offsets, asynchronous=False))
        finally:
            await self._call(consumer.close)
            await task.stop()
            self._executor.shutdown(wait=False)

    async def _with_retries(self, action: Callable[[], Any]) -> None:
        delay = 0.1
        for attempt in range(RETRIES + 1):
            try:
                await action()
                return
            except RetriableError:
                if attempt == RETRIES:
                    raise
                log.warning(
                    "%s-%d: retriable error; retrying in %.1fs", self.name, self.task_id, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _to_record(self, message: Message) -> ConnectRecord | FailedRecord | None:
        topic = message.topic() or ""
        coordinates = (topic, message.partition() or 0, message.offset() or 0)
        stage = Stage.KEY_CONVERTER
        try:
            key_schema, key = self.key_converter.to_connect(topic, message.key())
            stage = Stage.VALUE_CONVERTER
            value_schema, value = self.value_converter.to_connect(topic, message.value())
            stage = Stage.TRANSFORMATION
            record = ConnectRecord(
                topic=topic,
                value=value,
                key=key,
                value_schema=value_schema,
                key_schema=key_schema,
                partition=coordinates[1],
                timestamp=message.timestamp()[1],
                headers=tuple(message.headers() or ()),  # type: ignore[arg-type]
                kafka_offset=coordinates[2],
            )
            return apply_chain(self.chain, record)
        except ConnectorError as exc:
            return FailedRecord(*coordinates, message.key(), message.value(), stage, exc)

    async def _handle(self, task: SinkTask, messages: list[Message]) -> None:
        records: list[ConnectRecord] = []
        sources: list[Message] = []
        failed: list[FailedRecord] = []
        if self.converts_off_loop:
            converted_all = await self._call(lambda: [self._to_record(m) for m in messages])
        else:
            converted_all = [self._to_record(m) for m in messages]
        for message, converted in zip(messages, converted_all, strict=True):
            if isinstance(converted, FailedRecord):
                if not self.tolerate:
                    raise converted.error
                failed.append(converted)
            elif converted is not None:
                records.append(converted)
                sources.append(message)
        try:
            if records:
                await self._with_retries(lambda: task.put(records))
        except RetriableError:
            raise
        except ConnectorError:
            if not self.tolerate:
                raise
            failed += await self._isolate(task, records, sources)
        await self.dlq.send(failed)

    async def _isolate(
        self,
        task: SinkTask,
        records: Sequence[ConnectRecord],
        sources: Sequence[Message],
    ) -> list[FailedRecord]:
        """Put the records one by one; the ones that still fail are the bad ones."""
        failed = []
        for record, message in zip(records, sources, strict=True):
            try:
                await self._with_retries(lambda r=record: task.put([r]))  # type: ignore[misc]
            except ConnectorError as exc:
                failed.append(
                    FailedRecord(
                        record.topic,
                        record.partition or 0,
                        record.kafka_offset or 0,
                        message.key(),
                        message.value(),
                        Stage.TASK_PUT,
                        exc,
                        type(task).__name__,
                    )
                )
        return failed
