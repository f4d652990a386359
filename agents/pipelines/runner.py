"""Runs one pipeline: its source topics -> its current version's steps -> its sink topic.

Delivery through a version switch: each pipeline has its own consumer group
(``<app_id>.pipeline.<id>``) and one loop that, per batch, consumes, processes with the current
version, sends the outputs (awaiting the broker's acks=all acknowledgement) and commits the
batch's offsets synchronously, before it looks at anything else. A new version (update, rollback)
or a pause is picked up only between batches, i.e. after the batch in flight was produced and
committed: so every source offset is processed exactly once, by exactly one version, and each
output record carries that version in the ``datanexus-pipeline-version`` header. Only a crash
between the sink acknowledgement and the commit replays a batch (at-least-once); the
``datanexus-origin`` header (topic/partition/offset of the batch's last record) lets a reader
drop such replays.

Engine steps (dedupe, window) keep state across batches: a runner given ``stages``
(``agents.pipelines.stage_host.PipelineStages``) compiles through them, skips records their state
already holds (``is_replayed``), and calls ``begin``/``commit`` around each batch (``commit`` after
the sink ack, before the offset commit) or ``abort`` when the batch failed; they are closed when
the runner stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson
from confluent_kafka import Consumer, Message, TopicPartition

from app.producer import FastProducer, OutRecord
from tables.pipelines import CompiledPipeline, PipelineError, RunState, compile_pipeline

log = logging.getLogger(__name__)

VERSION_HEADER = "datanexus-pipeline-version"
PIPELINE_HEADER = "datanexus-pipeline"
POLL_TIMEOUT_S = 0.1

Compiler = Callable[[dict[str, Any], int], CompiledPipeline]


class StageHooks(Protocol):
    """The engine steps' side of the batch protocol (see the module docstring)."""

    def compile(self, config: dict[str, Any], version: int) -> CompiledPipeline: ...

    def is_replayed(self, topic: str, partition: int, offset: int) -> bool: ...

    def begin(self, offsets: Mapping[tuple[str, int], int]) -> None: ...

    async def commit(self) -> None: ...

    async def abort(self) -> None: ...

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Target:
    """What the scheduler wants a runner to run."""

    version: int
    config: dict[str, Any]
    paused: bool


def default_compiler(config: dict[str, Any], version: int) -> CompiledPipeline:
    return compile_pipeline(config, version=version)


class PipelineRunner:
    def __init__(
        self,
        pipeline_id: str,
        *,
        group_id: str,
        bootstrap: str,
        producer: FastProducer,
        consumer_config: dict[str, Any],
        batch_size: int = 2000,
        compiler: Compiler = default_compiler,
        stages: StageHooks | None = None,
    ) -> None:
        self.pipeline_id = pipeline_id
        self._group_id = group_id
        self._bootstrap = bootstrap
        self._producer = producer
        self._consumer_config = consumer_config
        self._batch_size = batch_size
        self._stages = stages
        self._compiler = compiler if stages is None else stages.compile
        self._target: Target | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.state = RunState.PENDING
        self.running_version: int | None = None
        self.records_in = 0
        self.records_out = 0
        self.records_dropped = 0
        self.switches = 0
        self.error: str | None = None
        self.lag: int | None = None

    def set_target(self, target: Target) -> None:
        self._target = target
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pipeline-{self.pipeline_id}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self.state = RunState.STOPPED

    def stats(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "running_version": self.running_version,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "records_dropped": self.records_dropped,
            "switches": self.switches,
            "lag": self.lag,
            "error": self.error,
        }

    # the loop

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        consumer = Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": self._group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **self._consumer_config,
            }
        )
        compiled: CompiledPipeline | None = None
        sources: list[str] = []
        try:
            while not self._stopping:
                target = self._target
                if target is None:
                    await self._idle()
                    continue
                if compiled is None or compiled.version != target.version:
                    # Between batches: the previous batch is produced and committed already.
                    compiled = self._switch(compiled, target)
                    if compiled is None:
                        await self._idle()
                        continue
                    if compiled.sources != sources:
                        sources = list(compiled.sources)
                        await loop.run_in_executor(None, consumer.subscribe, sources)
                if target.paused:
                    # Nothing is consumed while paused, so nothing is left half-done; a long
                    # pause drops the consumer from its group, and it rejoins at the commit.
                    self.state = RunState.PAUSED
                    await self._idle()
                    continue
                # Running once the group gave this consumer its partitions (joins take a while).
                self.state = RunState.RUNNING if consumer.assignment() else RunState.PENDING
                messages = await loop.run_in_executor(
                    None, consumer.consume, self._batch_size, POLL_TIMEOUT_S
                )
                if messages:
                    await self._process_until_done(consumer, compiled, messages)
        except Exception as exc:
            log.exception("pipeline %s stopped", self.pipeline_id)
            self.state, self.error = RunState.FAILED, str(exc)
        finally:
            await loop.run_in_executor(None, consumer.close)
            if self._stages is not None:
                self._stages.close()

    def _switch(self, current: CompiledPipeline | None, target: Target) -> CompiledPipeline | None:
        if current is not None:
            self.state = RunState.SWITCHING
        try:
            compiled = self._compiler(target.config, target.version)
            if compiled.sink.get("type") != "topic":
                raise PipelineError("only topic sinks run in this release (connector sinks: TBD)")
        except Exception as exc:
            log.error(
                "pipeline %s version %s cannot run: %s", self.pipeline_id, target.version, exc
            )
            self.state, self.error = RunState.FAILED, str(exc)
            return None
        if current is not None:
            self.switches += 1
        self.running_version, self.error = target.version, None
        log.info("pipeline %s runs version %s", self.pipeline_id, target.version)
        return compiled

    async def _idle(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), 0.5)

    async def _process_until_done(
        self, consumer: Consumer, compiled: CompiledPipeline, messages: list[Message]
    ) -> None:
        """A batch that fails (sink down) is retried as it is: its offsets stay uncommitted."""
        delay = 0.1
        while True:
            try:
                await self._process(consumer, compiled, messages)
                return
            except Exception as exc:
                if self._stopping:
                    raise
                log.warning("pipeline %s batch failed (%s); retrying", self.pipeline_id, exc)
                self.error = str(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _process(
        self, consumer: Consumer, compiled: CompiledPipeline, messages: list[Message]
    ) -> None:
        records: list[dict[str, Any]] = []
        dropped = 0
        offsets: dict[tuple[str, int], int] = {}
        last: Message | None = None
        stages = self._stages
        for message in messages:
            if message.error() is not None:
                continue
            last = message
            topic, partition = message.topic() or "", message.partition() or 0
            offset = offsets[(topic, partition)] = message.offset() or 0
            if stages is not None and stages.is_replayed(topic, partition, offset):
                continue  # its effects are in the engine state already (replay after a crash)
            try:
                value = orjson.loads(message.value() or b"null")
            except orjson.JSONDecodeError:
                dropped += 1
                continue
            if isinstance(value, dict):
                records.append(value)
            else:
                dropped += 1
        if last is None:
            return
        if stages is not None:
            stages.begin(offsets)
        try:
            out, step_drops = await self._process_and_send(compiled, records, last)
            if stages is not None:
                await stages.commit()
        except BaseException:
            if stages is not None:
                await stages.abort()
            raise
        commits = [TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()]
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: consumer.commit(offsets=commits, asynchronous=False)
        )
        self.records_in += len(messages)
        self.records_out += len(out)
        self.records_dropped += dropped + step_drops
        self.lag = _lag(consumer)

    async def _process_and_send(
        self, compiled: CompiledPipeline, records: list[dict[str, Any]], last: Message
    ) -> tuple[list[OutRecord], int]:
        """Runs the steps and sends their outputs; returns once the sink acknowledged them
        (with the number of records the steps dropped)."""
        result = await compiled.process_batch(records)
        headers = [
            (VERSION_HEADER, str(compiled.version).encode()),
            (PIPELINE_HEADER, self.pipeline_id.encode()),
            ("datanexus-origin", f"{last.topic()}/{last.partition()}/{last.offset()}".encode()),
        ]
        dumps = orjson.dumps
        out: list[OutRecord] = [
            (_key_of(record), dumps(record), headers)  # type: ignore[misc]
            for record in result.outputs
        ]
        if out:
            await self._producer.send_batch(compiled.sink["topic"], out)
        return out, len(result.dropped)


def _key_of(record: dict[str, Any]) -> bytes | None:
    key = record.get("id")
    return None if key is None else str(key).encode()


def _lag(consumer: Consumer) -> int | None:
    """Records behind the end of the assigned partitions, from the watermarks librdkafka cached
    with its last fetches (no request). Approximate on the embedded broker (wrong end offsets)."""
    total = 0
    for tp in consumer.position(consumer.assignment()):
        _low, high = consumer.get_watermark_offsets(tp, cached=True)
        if tp.offset < 0 or high < 0:
            return None
        total += max(0, high - tp.offset)
    return total
