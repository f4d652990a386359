"""The aggregate store's feed: window output topics -> RocksDB aggregate store + invalidation.

A plain Kafka consumer group (``<app_id>.aggregate-store``), not a Faust agent. The store is a
sink: it keeps no Faust state and its writes are upserts, so nothing of Faust's is needed, while
Faust's per-message path (hand-over, event, ack: about 30 us a record here) is what a windowed
worker is bound by. With ``on_close`` windows there is about one output per ten input records, and
storing them through Faust took about 8% of the windowed worker's throughput (W 20.5k -> 22.4k
records/s with that agent switched off, three alternating runs of bench/windows.py's W harness).

Each worker stores the output partitions the group gives it and reads ask every worker
(agents/query/cluster.py). Offsets are committed after a batch is stored and invalidated
(:mod:`agents.group_consumer`: at least once, and a redelivered batch is harmless). Malformed
records are logged, counted and skipped: they are not window results.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
from confluent_kafka import Message
from prometheus_client import Counter

from agents.group_consumer import GroupConsumerLoop
from agents.query.catalog import RecordError, window_aggregate
from tables.aggstore.types import WindowAggregate
from tables.query.models import MetricCatalog

log = logging.getLogger(__name__)

POLL_TIMEOUT_S = 0.05  # a batch waits at most this long for more records (freshness)
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
        self._catalog = catalog
        self._store = store
        self.loop = GroupConsumerLoop(
            "aggregate-store",
            topics,
            bootstrap=bootstrap,
            group_id=group_id,
            consumer_config=consumer_config,
            prepare=self.decode,
            handle=self.store,
            batch_size=batch_size,
            poll_timeout_s=POLL_TIMEOUT_S,
        )
        self.topics = self.loop.topics
        self.owned = self.loop.owned
        self.stored = 0
        self.skipped = 0

    async def run(self) -> None:
        await self.loop.run()

    def decode(self, messages: list[Message]) -> list[WindowAggregate]:
        """On the consumer's thread: the batch's window results (the rest logged and skipped)."""
        records: list[WindowAggregate] = []
        catalog = self._catalog
        for message in messages:
            try:
                records.append(window_aggregate(orjson.loads(message.value() or b""), catalog))
            except (RecordError, orjson.JSONDecodeError) as exc:
                self.skipped += 1
                STORE_RECORDS.labels("skipped").inc()
                log.warning("skipping window output record: %s", exc)
        return records

    async def store(self, records: list[WindowAggregate]) -> None:
        if records:
            await self._store(records)
            self.stored += len(records)
            STORE_RECORDS.labels("stored").inc(len(records))
