"""The aggregate store's feed: window output topics -> RocksDB aggregate store + invalidation.

A plain Kafka consumer group (``<app_id>.aggregate-store``), not a Faust agent. The store is a
sink: it keeps no Faust state and its writes are upserts, so nothing of Faust's is needed, while
Faust's per-message path (hand-over, event, ack: about 30 us a record here) is what a windowed
worker is bound by. With ``on_close`` windows there is about one output per ten input records, and
storing them through Faust took about 8% of the windowed worker's throughput (W 20.5k -> 22.4k
records/s without it, bench/windows.py). librdkafka hands a batch over at about 1 us a record.

Kafka's group protocol spreads the output partitions over the workers; each stores what it is
given and reads ask every worker (agents/query/cluster.py). Offsets are committed after a batch is
stored and invalidated (at least once; a redelivered batch is harmless). A batch that fails is
retried, never skipped. Malformed records are logged and skipped: they are not window results.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from prometheus_client import Counter

from agents.query.catalog import RecordError, window_aggregate
from tables.aggstore.types import WindowAggregate
from tables.query.models import MetricCatalog

log = logging.getLogger(__name__)

POLL_TIMEOUT_S = 0.05  # a batch waits at most this long for more records (freshness)
MAX_RETRY_DELAY_S = 5.0
StoreBatch = Callable[[list[WindowAggregate]], Awaitable[Any]]
STORE_RECORDS = Counter(
    "datanexus_query_store_records",
    "Window output records read by the aggregate store feed, by result (stored, or skipped: "
    "not a window result of a configured spec).",
    ["result"],
)


def store_group(app_id: str) -> str:
    return f"{app_id}.aggregate-store"


class AggregateStoreFeed:
    def __init__(
        self,
        topics: Sequence[str],
        catalog: MetricCatalog,
        store: StoreBatch,
        *,
        bootstrap: str,
        group_id: str,
        consumer_config: Mapping[str, Any],
        batch_size: int = 5000,
    ) -> None:
        self.topics = list(topics)
        self._catalog = catalog
        self._store = store
        self._config = {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **consumer_config,
        }
        self._batch_size = batch_size
        self._assigned: frozenset[tuple[str, int]] = frozenset()
        self.stored = 0
        self.skipped = 0

    def owned(self) -> dict[str, list[int]]:
        """Output partitions this worker stores now (the group's current assignment)."""
        owned: dict[str, list[int]] = {}
        for topic, partition in sorted(self._assigned):
            owned.setdefault(topic, []).append(partition)
        return owned

    async def run(self) -> None:
        """Consume until cancelled; the consumer lives on one thread of its own."""
        if not self.topics:
            return
        executor = ThreadPoolExecutor(1, thread_name_prefix="aggregate-store")
        loop = asyncio.get_running_loop()
        consumer = Consumer(self._config)
        try:
            await loop.run_in_executor(executor, self._subscribe, consumer)
            while True:
                batch = await loop.run_in_executor(executor, self._poll, consumer)
                if batch is None:
                    continue
                records, offsets = batch
                await self._store_until_done(records)
                await loop.run_in_executor(executor, self._commit, consumer, offsets)
        finally:
            await asyncio.shield(loop.run_in_executor(executor, consumer.close))
            executor.shutdown(wait=False)

    # on the consumer's thread

    def _subscribe(self, consumer: Consumer) -> None:
        def assigned(_: Consumer, partitions: list[TopicPartition]) -> None:
            self._assigned = self._assigned | {(tp.topic, tp.partition) for tp in partitions}

        def revoked(_: Consumer, partitions: list[TopicPartition]) -> None:
            self._assigned = self._assigned - {(tp.topic, tp.partition) for tp in partitions}

        consumer.subscribe(self.topics, on_assign=assigned, on_revoke=revoked, on_lost=revoked)

    def _poll(
        self, consumer: Consumer
    ) -> tuple[list[WindowAggregate], list[TopicPartition]] | None:
        messages: list[Message] = consumer.consume(self._batch_size, POLL_TIMEOUT_S)
        if not messages:
            return None
        records: list[WindowAggregate] = []
        catalog = self._catalog
        highest: dict[tuple[str, int], int] = {}
        for message in messages:
            if message.error() is not None:
                log.warning("aggregate store feed: %s", message.error())
                continue
            tp = (message.topic() or "", message.partition() or 0)
            highest[tp] = max(highest.get(tp, -1), message.offset() or 0)
            try:
                records.append(window_aggregate(orjson.loads(message.value() or b""), catalog))
            except (RecordError, orjson.JSONDecodeError) as exc:
                self.skipped += 1
                STORE_RECORDS.labels("skipped").inc()
                log.warning("skipping window output record: %s", exc)
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in highest.items()]
        return records, offsets

    def _commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # a rebalance took the partitions: their new owner re-reads
            log.warning("aggregate store feed: commit failed (%s); the batch may be re-read", exc)

    # on the event loop

    async def _store_until_done(self, records: list[WindowAggregate]) -> None:
        delay = 0.1
        while records:
            try:
                await self._store(records)
                self.stored += len(records)
                STORE_RECORDS.labels("stored").inc(len(records))
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("storing %d window results failed; retrying", len(records))
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_S)
