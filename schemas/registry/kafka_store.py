"""The ``_schemas`` topic as the registry's store (the source of truth, as in Confluent/Karapace).

A reader thread consumes partition 0 from the beginning with no consumer group and hands decoded
records to the event loop, which applies them in order, so ``state`` is only touched on the
loop. Writers produce with ``acks=all`` and wait until the reader has applied the offset of
their last record. Start-up does not trust the high watermark (Tansu answers wrong end offsets
after multi-record batches) nor "a fetch returned nothing" (it can precede the first fetch):
it writes a ``NOOP`` record, as Confluent's KafkaStore does, and waits to read it back.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from schemas.registry import errors
from schemas.registry.offset_gaps import GapVerdict, OffsetGapGuard
from schemas.registry.records import NoopRecord, Record, decode, encode
from schemas.registry.state import RegistryState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaStoreConfig:
    bootstrap_servers: str
    topic: str = "_schemas"
    # Tansu does not wake a waiting fetch when data arrives: the wait bounds read-back latency.
    fetch_wait_ms: int = 5
    # One record per produce batch (the embedded broker's end-offset quirk); Kafka needs none.
    single_record_batches: bool = True
    # Seek back and re-read on offset gaps (the embedded broker's fetches can skip a record
    # under concurrent writes; see ``schemas.registry.offset_gaps``). Kafka needs none.
    reread_offset_gaps: bool = True
    write_timeout_s: float = 15.0
    replication_factor: int = 1
    client_config: dict[str, Any] = field(default_factory=dict)


class KafkaSchemaStore:
    def __init__(self, config: KafkaStoreConfig) -> None:
        self.config = config
        self._state = RegistryState()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._producer: Producer | None = None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tiebreak = itertools.count()
        self._reader_error: str | None = None

    @property
    def state(self) -> RegistryState:
        return self._state

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._loop.run_in_executor(None, self._ensure_topic)
        common = {"bootstrap.servers": self.config.bootstrap_servers, **self.config.client_config}
        producer_config = {**common, "acks": "all", "linger.ms": 0}
        if self.config.single_record_batches:
            producer_config["batch.num.messages"] = 1
        self._producer = Producer(producer_config)
        consumer = Consumer(
            {
                **common,
                "group.id": "datanexus-schema-registry",
                "enable.auto.commit": False,
                # Any offset reset (e.g. a fetch past a lagging high watermark) re-reads from the
                # start, where already applied offsets are skipped: "latest" would skip records
                # and let this instance's state diverge from the others'.
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": self.config.fetch_wait_ms,
                "fetch.error.backoff.ms": 50,
            }
        )
        consumer.assign([TopicPartition(self.config.topic, 0, OFFSET_BEGINNING)])
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._read, args=(consumer,), name="schemas-reader"),
            threading.Thread(target=self._poll_producer, name="schemas-producer"),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        await self.sync()

    async def stop(self) -> None:
        self._stopping.set()
        loop = asyncio.get_running_loop()
        for thread in self._threads:
            await loop.run_in_executor(None, thread.join, 5.0)
        self._threads = []
        if self._producer is not None:
            await loop.run_in_executor(None, self._producer.flush, 5.0)
            self._producer = None
        for _, _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(errors.store_error("store stopped"))
        self._waiters.clear()

    async def sync(self) -> None:
        await self.append([NoopRecord()])

    async def append(self, records: Sequence[Record]) -> None:
        if self._producer is None or self._loop is None:
            raise errors.store_error("store not started")
        loop = self._loop
        deliveries: list[asyncio.Future[int]] = []
        for record in records:
            delivered: asyncio.Future[int] = loop.create_future()
            key, value = encode(record)
            self._producer.produce(
                self.config.topic,
                key=key,
                value=value,
                partition=0,
                on_delivery=self._on_delivery(delivered),
            )
            deliveries.append(delivered)
        try:
            async with asyncio.timeout(self.config.write_timeout_s):
                offsets = await asyncio.gather(*deliveries)
                await self._read_back(max(offsets))
        except TimeoutError as exc:
            raise errors.store_timeout("write to the schemas topic was not read back") from exc

    def _on_delivery(self, delivered: asyncio.Future[int]) -> Any:
        loop = self._loop
        assert loop is not None

        def settle(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failure = errors.store_error(str(error))
                loop.call_soon_threadsafe(_set_exception, delivered, failure)
            else:
                loop.call_soon_threadsafe(_set_result, delivered, message.offset())

        return settle

    async def _read_back(self, offset: int) -> None:
        if self._state.applied_offset >= offset:
            return
        if self._reader_error is not None:
            raise errors.store_error(self._reader_error)
        assert self._loop is not None
        waiter: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._waiters, (offset, next(self._tiebreak), waiter))
        await waiter

    def _apply(self, batch: list[tuple[int, Record | None]]) -> None:
        """On the loop: apply records in log order, then wake writers waiting for them."""
        state = self._state
        for offset, record in batch:
            if offset <= state.applied_offset:
                continue
            if record is None:
                state.applied_offset = offset
            else:
                state.apply(record, offset)
        while self._waiters and self._waiters[0][0] <= state.applied_offset:
            _, _, waiter = heapq.heappop(self._waiters)
            _set_result(waiter, None)

    def _read(self, consumer: Consumer) -> None:
        guard = OffsetGapGuard(next_offset=0) if self.config.reread_offset_gaps else None
        try:
            while not self._stopping.is_set():
                first = consumer.poll(0.1)
                if first is not None:
                    messages = [first, *consumer.consume(num_messages=1000, timeout=0)]
                    self._hand_over(consumer, messages, guard)
        except Exception as exc:  # pragma: no cover - surfaced to writers
            log.exception("schemas reader stopped")
            self._reader_error = str(exc)
        finally:
            consumer.close()

    def _hand_over(
        self, consumer: Consumer, messages: list[Message], guard: OffsetGapGuard | None
    ) -> None:
        """Pass records on to the loop in offset order (re-reading past gaps)."""
        loop = self._loop
        assert loop is not None
        batch: list[tuple[int, Record | None]] = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("schemas topic read error: %s", error)
                continue
            offset = message.offset()
            if offset is None:
                continue
            verdict = GapVerdict.APPLY if guard is None else guard.admit(offset)
            if verdict is GapVerdict.SKIP:
                continue
            if verdict is GapVerdict.REREAD:
                assert guard is not None
                if self._reread_from(consumer, guard):
                    break  # the rest of this fetch comes again after the seek
                guard.admit(offset)  # could not seek: accept the gap
            batch.append((offset, decode(message.key(), message.value())))
        if batch:
            loop.call_soon_threadsafe(self._apply, batch)

    def _reread_from(self, consumer: Consumer, guard: OffsetGapGuard) -> bool:
        log.info("schemas topic: offset gap before %d, reading it again", guard.next_offset)
        time.sleep(0.005 * guard.rereads)  # let the broker finish the write we raced
        try:
            consumer.seek(TopicPartition(self.config.topic, 0, guard.next_offset))
        except KafkaException as exc:
            log.warning("schemas topic: cannot seek back to %d: %s", guard.next_offset, exc)
            guard.rereads = guard.max_rereads
            return False
        return True

    def _poll_producer(self) -> None:
        producer = self._producer
        assert producer is not None
        while not self._stopping.is_set():
            producer.poll(0.05)

    def _ensure_topic(self) -> None:
        admin = AdminClient(
            {"bootstrap.servers": self.config.bootstrap_servers, **self.config.client_config}
        )
        topic = NewTopic(
            self.config.topic,
            num_partitions=1,
            replication_factor=self.config.replication_factor,
            config={"cleanup.policy": "compact"},
        )
        for future in admin.create_topics([topic], request_timeout=10).values():
            try:
                future.result()
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                    raise errors.store_error(f"cannot create the schemas topic: {exc}") from exc


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
