"""The aggregate store feed and its consumer-group loop (agents/group_consumer.py): decode, skip
what is no window result, commit offsets, follow the assignment, retry a failing batch.

The consumer here is a stand-in serving fixed messages; the feed against the real broker is
covered by tests/integration/test_query_api.py (store, skip counts, commits, two workers) and the
repartition stage by tests/integration/test_windows_pipeline.py (restarts, kill -9).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from confluent_kafka import TopicPartition

from agents.query.catalog import catalog_from_specs
from agents.query.store_feed import AggregateStoreFeed
from tables.aggstore import WindowAggregate
from tables.windows import parse_window_spec

MIN = 60_000
TOPIC = "datanexus.windows.spend"
SPEC = {
    "name": "spend",
    "type": "tumbling",
    "size": "1m",
    "group_by": ["source"],
    "aggregate": {"amount": ["sum"]},
}


class StubMessage:
    def __init__(self, partition: int, offset: int, value: bytes, error: Any = None) -> None:
        self._partition, self._offset, self._value, self._error = partition, offset, value, error

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def error(self) -> Any:
        return self._error


class StubConsumer:
    def __init__(self, batches: list[list[StubMessage]]) -> None:
        self.batches = batches
        self.callbacks: dict[str, Any] = {}

    def consume(self, num_messages: int, timeout: float) -> list[StubMessage]:
        return self.batches.pop(0) if self.batches else []

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks


def result(source: str, minute: int, total: float) -> bytes:
    return orjson.dumps(
        {
            "name": "spend",
            "key": [source],
            "start": minute * MIN,
            "end": (minute + 1) * MIN,
            "aggregates": {"amount.sum": total},
            "final": True,
        }
    )


def feed(stored: list[list[WindowAggregate]] | None = None) -> AggregateStoreFeed:
    async def store(records: list[WindowAggregate]) -> None:
        if stored is not None:
            stored.append(records)

    catalog = catalog_from_specs([parse_window_spec(SPEC)], 1_000)
    return AggregateStoreFeed(
        [TOPIC], catalog, store, bootstrap="unused:9092", group_id="g", consumer_config={}
    )


def test_a_batch_keeps_window_results_skips_the_rest_and_commits_past_both() -> None:
    subject = feed()
    consumer = StubConsumer(
        [
            [
                StubMessage(0, 7, result("web", 1, 5.0)),
                StubMessage(1, 3, b"{not json"),
                StubMessage(0, 8, orjson.dumps({"name": "other", "start": 0, "end": 1})),
                StubMessage(1, 4, result("ios", 2, 9.0)),
                StubMessage(2, 0, b"", error="partition EOF"),
            ]
        ]
    )
    batch = subject.loop.poll(consumer)  # type: ignore[arg-type]
    assert batch is not None
    records, offsets = batch
    assert [(r.metric, r.start_ms, r.aggregates) for r in records] == [
        ("spend", MIN, {"amount.sum": 5.0}),
        ("spend", 2 * MIN, {"amount.sum": 9.0}),
    ]
    assert subject.skipped == 2
    committed = sorted((tp.topic, tp.partition, tp.offset) for tp in offsets)
    assert committed == [(TOPIC, 0, 9), (TOPIC, 1, 5)]  # errors carry no offset to commit


def test_an_empty_poll_is_no_batch() -> None:
    assert feed().loop.poll(StubConsumer([])) is None  # type: ignore[arg-type]


def test_owned_follows_the_group_assignment() -> None:
    subject, consumer = feed(), StubConsumer([])
    subject.loop.subscribe(consumer)  # type: ignore[arg-type]
    on_assign, on_revoke = consumer.callbacks["on_assign"], consumer.callbacks["on_revoke"]
    on_assign(consumer, [TopicPartition(TOPIC, p) for p in (2, 0, 1)])
    assert subject.owned() == {TOPIC: [0, 1, 2]}
    on_revoke(consumer, [TopicPartition(TOPIC, 1)])
    assert subject.owned() == {TOPIC: [0, 2]}
    consumer.callbacks["on_lost"](consumer, [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 2)])
    assert subject.owned() == {}


def test_a_failing_store_is_retried_until_it_succeeds() -> None:
    attempts: list[int] = []

    async def flaky(records: list[WindowAggregate]) -> None:
        attempts.append(len(records))
        if len(attempts) < 3:
            raise OSError("store busy")

    subject = feed()
    subject._store = flaky
    record = WindowAggregate("spend", "web", 0, MIN, {"amount.sum": 1.0}, True)
    asyncio.run(subject.loop._handle_until_done([record]))
    assert attempts == [1, 1, 1] and subject.stored == 1
