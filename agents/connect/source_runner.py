"""Source task loop: poll -> transforms -> converters -> Kafka (acks=all) -> offsets.

Offsets are written to the offsets topic only after Kafka acknowledged the batch they cover,
and a task resumes from the last written offset: a clean restart neither repeats nor skips a
record (a crash between the two writes repeats at most one batch).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from agents.connect.chain import apply_chain
from agents.connect.dlq import FailedRecord, Stage
from agents.connect.runner import TaskRunner
from agents.connect.types import ConnectorError, ConnectRecord, SourceTask
from app.producer import OutRecord


def offset_key(connector: str, partition: Mapping[str, Any]) -> str:
    """Kafka Connect's offsets-topic key: ``["name", {partition}]``."""
    return orjson.dumps([connector, partition], option=orjson.OPT_SORT_KEYS).decode()


class SourceTaskRunner(TaskRunner):
    async def run(self) -> None:
        task: SourceTask = self.plugin.create_task(self.config, self.context)  # type: ignore[assignment]
        await task.start(self._committed_offset)
        self.mark_running()
        try:
            while not self.stopping:
                if self.paused:
                    await self.wait_running()
                    continue
                records = await task.poll()
                if records:
                    await self.deliver(records)
        finally:
            await task.stop()

    def _committed_offset(self, partition: Mapping[str, Any]) -> Mapping[str, Any] | None:
        slot = self.deps.store.state.offsets.get(self.name, {})
        ident = orjson.dumps(partition, option=orjson.OPT_SORT_KEYS)
        entry = slot.get(ident)
        return None if entry is None else entry[1]

    def convert(
        self, records: Sequence[ConnectRecord]
    ) -> tuple[dict[str, list[OutRecord]], list[FailedRecord]]:
        out: dict[str, list[OutRecord]] = {}
        failed: list[FailedRecord] = []
        for index, record in enumerate(records):
            try:
                transformed = apply_chain(self.chain, record)
                if transformed is None:
                    continue
                key = self.key_converter.from_connect(
                    transformed.topic, transformed.key_schema, transformed.key
                )
                value = self.value_converter.from_connect(
                    transformed.topic, transformed.value_schema, transformed.value
                )
            except ConnectorError as exc:
                if not self.tolerate:
                    raise
                failed.append(
                    FailedRecord(record.topic, -1, index, None, None, Stage.TRANSFORMATION, exc)
                )
                continue
            headers = [(k, v) for k, v in transformed.headers] or None
            out.setdefault(transformed.topic, []).append((key, value, headers))  # type: ignore[arg-type]
        return out, failed

    async def deliver(self, records: Sequence[ConnectRecord]) -> None:
        if self.converts_off_loop:
            loop = asyncio.get_running_loop()
            batches, failed = await loop.run_in_executor(None, self.convert, records)
        else:
            batches, failed = self.convert(records)
        await self.dlq.send(failed)  # source records have no Kafka coordinates: logged/counted
        await asyncio.gather(
            *(self.deps.producer.send_batch(topic, out) for topic, out in batches.items())
        )
        await self._note_topics(batches)
        latest: dict[str, Mapping[str, Any]] = {}
        for record in records:
            if record.source_partition is not None and record.source_offset is not None:
                latest[offset_key(self.name, record.source_partition)] = record.source_offset
        await self.deps.store.write("offsets", list(latest.items()), wait=False)
        for key, offset in latest.items():
            self.deps.store.state.apply("offsets", key, offset)

    async def _note_topics(self, batches: Mapping[str, Any]) -> None:
        known = self.deps.store.state.topics_used.get(self.name, set())
        new = [t for t in batches if t not in known]
        if new:
            await self.deps.store.write(
                "status",
                [
                    (
                        f"topic-{t}-{self.name}",
                        {
                            "topic": {
                                "name": t,
                                "connector": self.name,
                                "task": self.task_id,
                                "discoverTimestamp": int(time.time() * 1000),
                            }
                        },
                    )
                    for t in new
                ],
            )
