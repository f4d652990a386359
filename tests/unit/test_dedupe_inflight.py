"""Bloom additions running in the background stay visible to the lookups meanwhile."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from agents.ingest import agent as ingest_agent
from agents.ingest.agent import _drain_bloom_adds
from tables.dedupe import DedupeConfig, DedupeMode, DedupeResult
from tables.dedupe.inflight import InFlightBloomAdds
from tables.dedupe.redis_mirror import PendingBloomAdd
from tests.unit.test_dedupe_engine_local import T0, engine_for, record, results


async def test_window_keys_are_held_until_their_addition_finished() -> None:
    in_flight = InFlightBloomAdds()
    landed = asyncio.Event()
    adds = [
        PendingBloomAdd("window", "orders", b"a", T0),
        PendingBloomAdd("late", "orders", b"b", T0),
    ]
    in_flight.start(adds, landed.wait)
    await asyncio.sleep(0)
    assert in_flight.holds("orders", b"a")
    assert not in_flight.holds("orders", b"b")  # the late summary is not the window filter
    assert not in_flight.holds("clicks", b"a")
    landed.set()
    await in_flight.drain()
    assert not in_flight.holds("orders", b"a") and len(in_flight) == 0


async def test_a_failing_addition_releases_its_keys() -> None:
    in_flight = InFlightBloomAdds()

    async def fails() -> None:
        raise RuntimeError("boom")

    in_flight.start([PendingBloomAdd("window", "orders", b"a", T0)], fails)
    await in_flight.drain()
    assert not in_flight.holds("orders", b"a")


async def test_the_next_batch_counts_a_key_being_added_as_seen() -> None:
    engine = engine_for(DedupeConfig(mode=DedupeMode.BLOOM, bloom_capacity=1_000))
    deferred: list[PendingBloomAdd] = []
    first = await engine.check_batch([record("a"), record("b")], T0, deferred)
    assert results(first) == [DedupeResult.UNIQUE, DedupeResult.UNIQUE]
    landed = asyncio.Event()
    engine.in_flight.start(deferred, landed.wait)  # the filters have not seen them yet
    second = await engine.check_batch([record("a"), record("c")], T0 + 1, [])
    assert results(second) == [DedupeResult.DUPLICATE, DedupeResult.UNIQUE]
    assert second[0].reason.endswith("being added)")
    landed.set()
    await engine.in_flight.drain()
    engine.add_in_background(deferred, T0 + 2)
    await engine.in_flight.drain()
    third = await engine.check_batch([record("a"), record("b")], T0 + 3, [])
    assert results(third) == [DedupeResult.DUPLICATE, DedupeResult.DUPLICATE]


def _runtime_holding(in_flight: InFlightBloomAdds) -> Any:
    return SimpleNamespace(stream=SimpleNamespace(engine=SimpleNamespace(in_flight=in_flight)))


async def test_the_ingest_agent_lets_bloom_additions_land_when_it_stops() -> None:
    in_flight, landed = InFlightBloomAdds(), []

    async def slow_add() -> None:
        await asyncio.sleep(0.05)
        landed.append(True)

    in_flight.start([PendingBloomAdd("window", "orders", b"a", T0)], slow_add)
    await _drain_bloom_adds(_runtime_holding(in_flight))
    assert landed == [True] and len(in_flight) == 0


async def test_a_stop_does_not_hang_on_an_addition_that_never_lands(monkeypatch: Any) -> None:
    monkeypatch.setattr(ingest_agent, "BLOOM_DRAIN_TIMEOUT_S", 0.05)
    in_flight, never = InFlightBloomAdds(), asyncio.Event()
    in_flight.start([PendingBloomAdd("window", "orders", b"a", T0)], never.wait)
    await asyncio.wait_for(_drain_bloom_adds(_runtime_holding(in_flight)), 1)
    assert in_flight.holds("orders", b"a")  # still pending: given up on, not lost silently
    never.set()
    await in_flight.drain()
