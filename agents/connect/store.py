"""Connect state in compacted topics (configs, status, offsets), like Kafka Connect.

Every worker reads all three topics from the start and keeps reading. Start-up reads until the
worker's own marker record comes back on each topic (the broker's end offset is not trusted, see
the dev-broker notes); a write returns once this worker has read it back, so a REST answer always
reflects the change it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, Message, TopicPartition

from app.producer import FastProducer
from app.topics import ensure_topics

log = logging.getLogger(__name__)

WRITE_ID_HEADER = "dn-connect-write"
MARKER_PREFIX = "__marker-"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ConnectTopics:
    prefix: str = "datanexus.connect"

    @property
    def configs(self) -> str:
        return f"{self.prefix}.configs"

    @property
    def status(self) -> str:
        return f"{self.prefix}.status"

    @property
    def offsets(self) -> str:
        return f"{self.prefix}.offsets"

    @property
    def tasks(self) -> str:
        return f"{self.prefix}.tasks"

    def state_topics(self) -> list[str]:
        return [self.configs, self.status, self.offsets]


@dataclass
class ConnectState:
    """What the three topics say, folded by key (last value wins, None deletes)."""

    configs: dict[str, dict[str, str]] = field(default_factory=dict)
    target_states: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    offsets: dict[str, dict[bytes, tuple[Any, Any]]] = field(default_factory=dict)
    topics_used: dict[str, set[str]] = field(default_factory=dict)

    def apply(self, kind: str, key: str, value: Any) -> None:
        if kind == "configs":
            if key.startswith("connector-"):
                _put(self.configs, key[len("connector-") :], value and value.get("properties"))
            elif key.startswith("target-state-"):
                _put(self.target_states, key[len("target-state-") :], value and value["state"])
        elif kind == "status":
            if key.startswith("topic-"):
                if value is not None:
                    entry = value["topic"]
                    self.topics_used.setdefault(entry["connector"], set()).add(entry["name"])
                else:
                    self._forget_topic(key)
            else:
                _put(self.statuses, key, value)
        elif kind == "offsets":
            try:
                name, partition = orjson.loads(key)
            except (orjson.JSONDecodeError, ValueError):
                return
            slot = self.offsets.setdefault(name, {})
            ident = orjson.dumps(partition, option=orjson.OPT_SORT_KEYS)
            if value is None:
                slot.pop(ident, None)
            else:
                slot[ident] = (partition, value)

    def _forget_topic(self, key: str) -> None:
        for connector, topics in self.topics_used.items():
            for topic in list(topics):
                if key == f"topic-{topic}-{connector}":
                    topics.discard(topic)


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


Listener = Callable[[str, str, Any], None]


class ConnectStore:
    def __init__(
        self,
        bootstrap: str,
        topics: ConnectTopics,
        producer: Callable[[], FastProducer],
        consumer_config: Mapping[str, Any] | None = None,
        replication_factor: int = 1,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self._producer = producer
        self.state = ConnectState()
        self.listeners: list[Listener] = []
        self._consumer_config = dict(consumer_config or {})
        self._replication = replication_factor
        self._kinds = {
            topics.configs: "configs",
            topics.status: "status",
            topics.offsets: "offsets",
        }
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="connect-store")
        self._consumer: Consumer | None = None
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    @property
    def producer(self) -> FastProducer:
        return self._producer()

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self, task_partitions: int) -> int:
        """Reads the state topics to their end; returns the tasks topic's partition count."""
        compact = {"cleanup.policy": "compact"}
        await self._call(
            lambda: ensure_topics(
                self.bootstrap,
                self.topics.state_topics(),
                1,
                self._replication,
                configs={t: compact for t in self.topics.state_topics()},
            )
        )
        await self._call(
            lambda: ensure_topics(
                self.bootstrap, [self.topics.tasks], task_partitions, self._replication
            )
        )
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"dn-connect-reader-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **self._consumer_config,
            }
        )
        consumer.assign([TopicPartition(t, 0, 0) for t in self.topics.state_topics()])
        self._consumer = consumer
        markers = {t: MARKER_PREFIX + uuid.uuid4().hex for t in self.topics.state_topics()}
        waits = [self._expect(marker) for marker in markers.values()]
        self._reader = asyncio.create_task(self._read_forever())
        try:
            await asyncio.gather(
                *(
                    self.producer.send_batch(
                        topic,
                        [(marker.encode(), None, [(WRITE_ID_HEADER, marker.encode())])],
                    )
                    for topic, marker in markers.items()
                )
            )
            await asyncio.wait_for(asyncio.gather(*waits), START_TIMEOUT_S)
            metadata = await self._call(consumer.list_topics, self.topics.tasks, 10)
        except BaseException:
            # leave nothing behind, so the caller can call start() again from scratch
            for marker in markers.values():
                self._waiters.pop(marker, None)
            await self._stop_reading()
            self.state = ConnectState()
            raise
        self.ready.set()
        return len(metadata.topics[self.topics.tasks].partitions) or task_partitions

    def _expect(self, write_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[write_id] = future
        return future

    async def _read_forever(self) -> None:
        assert self._consumer is not None
        consume = self._consumer.consume
        while True:
            try:
                messages: list[Message] = await self._call(consume, 1000, 0.1)
            except RuntimeError:
                return  # consumer closed
            for message in messages:
                if message.error() is not None:
                    continue
                self._on_message(message)

    def _on_message(self, message: Message) -> None:
        topic = message.topic() or ""
        key = (message.key() or b"").decode()
        raw = message.value()
        headers = dict(message.headers() or [])
        write_id = headers.get(WRITE_ID_HEADER)
        if isinstance(write_id, str):
            write_id = write_id.encode()
        if not key.startswith(MARKER_PREFIX):
            value = orjson.loads(raw) if raw else None
            kind = self._kinds[topic]
            self.state.apply(kind, key, value)
            for listener in self.listeners:
                try:
                    listener(kind, key, value)
                except Exception:
                    log.exception("connect listener failed on %s %s", kind, key)
        if write_id is not None:
            waiter = self._waiters.pop(write_id.decode(), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def write(self, kind: str, records: list[tuple[str, Any]], wait: bool = True) -> None:
        """Write ``(key, value)`` records to the topic of ``kind``; None values are tombstones."""
        if not records:
            return
        topic = {"configs": self.topics.configs, "status": self.topics.status}.get(
            kind, self.topics.offsets
        )
        write_id = uuid.uuid4().hex
        waiter = self._expect(write_id) if wait else None
        out = []
        for index, (key, value) in enumerate(records):
            last = index == len(records) - 1
            headers = [(WRITE_ID_HEADER, write_id.encode())] if last else None
            out.append((key.encode(), None if value is None else orjson.dumps(value), headers))
        await self.producer.send_batch(topic, out)  # type: ignore[arg-type]
        if waiter is not None:
            await asyncio.wait_for(waiter, 30.0)

    async def _stop_reading(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await self._call(consumer.close)

    async def close(self) -> None:
        await self._stop_reading()
        self._executor.shutdown(wait=False)
