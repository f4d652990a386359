"""Cross-instance cache invalidation through real Redis pub/sub (two engines, one store)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from tables.aggstore import InMemoryAggregateStore, WindowAggregate
from tables.query import EngineConfig, MetricCatalog, MetricSpec, QueryEngine, RedisInvalidationBus

pytestmark = pytest.mark.integration

MIN = 60_000
HOUR = 60 * MIN
CATALOG = MetricCatalog([MetricSpec("clicks", MIN, ("source",))])
QUERY = {"metric": "clicks", "from": 0, "to": HOUR, "step": "5m", "aggregate": "n.sum"}


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url("redis://127.0.0.1:6379/0")
    yield client
    await client.aclose()


async def wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting for pub/sub"
        await asyncio.sleep(0.01)


async def test_update_on_one_instance_invalidates_the_others_cache(redis: Redis) -> None:
    channel = f"test.query.invalidate.{uuid.uuid4().hex}"
    store = InMemoryAggregateStore()
    store.put_many(
        WindowAggregate("clicks", "web", t, t + MIN, {"n.sum": 1.0}) for t in range(0, HOUR, MIN)
    )
    engines, buses = [], []
    for _ in range(2):
        bus = RedisInvalidationBus(redis, channel)
        engine = QueryEngine(store, CATALOG, EngineConfig(), clock=lambda: 10 * HOUR, publisher=bus)
        await bus.start(engine)
        engines.append(engine)
        buses.append(bus)
    reader, writer = engines
    try:
        before = await reader.query(QUERY)
        assert before["series"][0]["points"][0] == [0, 5.0]
        await writer.record_windows([WindowAggregate("clicks", "web", 0, MIN, {"n.sum": 41.0})])
        await wait_for(lambda: buses[0].received == 1)
        after = await reader.query(QUERY)
        assert after["series"][0]["points"][0] == [0, 45.0]
        assert reader.metrics.counts["invalidated_blocks"] == 1
        assert buses[1].received == 0  # its own message is not applied twice
    finally:
        for bus in buses:
            await bus.stop()


async def test_malformed_messages_are_ignored(redis: Redis) -> None:
    channel = f"test.query.invalidate.{uuid.uuid4().hex}"
    engine = QueryEngine(InMemoryAggregateStore(), CATALOG, clock=lambda: 0)
    bus = RedisInvalidationBus(redis, channel)
    await bus.start(engine)
    try:
        await redis.publish(channel, b"not json")
        await redis.publish(channel, b'{"metric": "clicks"}')
        other = RedisInvalidationBus(redis, channel)
        await other.publish("clicks", 0, HOUR)
        await wait_for(lambda: bus.received == 1)
        assert engine.metrics.counts["invalidations"] == 1
    finally:
        await bus.stop()
