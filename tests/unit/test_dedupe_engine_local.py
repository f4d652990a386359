"""The engine's decisions on local state alone (no Redis configured): pure logic."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tables.dedupe import (
    DedupeAction,
    DedupeConfig,
    DedupeConfigRegistry,
    DedupeEngine,
    DedupeMetrics,
    DedupeMode,
    DedupeResult,
    DedupeStage,
    LatePolicy,
    Record,
    WindowClock,
)

T0 = 1_700_000_000_000
WINDOW = 300_000


def record(
    record_id: str, source: str | None = "orders", event_time: int = T0, **payload: Any
) -> Record:
    return {
        "id": record_id,
        "source": source,
        "event_time": event_time,
        "payload": payload or {"v": record_id},
        "ingested_at": event_time,
    }


def engine_for(config: DedupeConfig, **kwargs: Any) -> DedupeEngine:
    return DedupeEngine(DedupeConfigRegistry(default=config), None, **kwargs)


def results(verdicts: list[Any]) -> list[DedupeResult]:
    return [verdict.result for verdict in verdicts]


async def test_same_id_twice_inside_the_window_is_accepted_once() -> None:
    engine = engine_for(DedupeConfig(mode=DedupeMode.EXACT))
    first = await engine.check_batch([record("a"), record("b"), record("a")], T0)
    second = await engine.check_batch([record("a"), record("c")], T0 + WINDOW)
    assert results(first) == [DedupeResult.UNIQUE, DedupeResult.UNIQUE, DedupeResult.DUPLICATE]
    assert results(second) == [DedupeResult.DUPLICATE, DedupeResult.UNIQUE]
    forwarded = [v.forward for v in first + second]
    assert forwarded == [True, True, False, False, True]


@pytest.mark.parametrize(
    ("policy", "action"),
    [
        (LatePolicy.ACCEPT, DedupeAction.FORWARD),
        (LatePolicy.FLAG, DedupeAction.FLAG),
        (LatePolicy.DROP, DedupeAction.DROP),
        (LatePolicy.DLQ, DedupeAction.DLQ),
    ],
)
async def test_after_the_window_the_late_policy_applies(
    policy: LatePolicy, action: DedupeAction
) -> None:
    engine = engine_for(DedupeConfig(mode=DedupeMode.EXACT, late_policy=policy))
    await engine.check_batch([record("a")], T0)
    [late] = await engine.check_batch([record("a")], T0 + WINDOW + 1)
    assert (late.result, late.action) == (DedupeResult.LATE, action)
    assert late.forward == (action in (DedupeAction.FORWARD, DedupeAction.FLAG))
    # the late copy opens a new window: a copy right after it is an ordinary duplicate
    [again] = await engine.check_batch([record("a")], T0 + WINDOW + 2)
    assert again.result is DedupeResult.DUPLICATE


async def test_late_is_recognised_by_the_summary_once_local_state_forgot_the_id() -> None:
    config = DedupeConfig(mode=DedupeMode.EXACT, window_ms=60_000)
    engine = engine_for(config)
    await engine.check_batch([record("a")], T0)
    later = T0 + 2 * 3_600_000  # beyond the local state's one-hour retention
    verdict, fresh = await engine.check_batch([record("a"), record("new")], later)
    assert verdict.result is DedupeResult.LATE
    assert "approximate" in verdict.reason
    assert fresh.result is DedupeResult.UNIQUE
    [beyond] = await engine.check_batch([record("a")], T0 + config.late_horizon_ms + 7 * 3_600_000)
    assert beyond.result is DedupeResult.UNIQUE


async def test_fuzzy_drops_records_differing_only_in_ignored_fields() -> None:
    engine = engine_for(DedupeConfig(mode=DedupeMode.FUZZY, ignore_fields=("ts", "meta.trace")))
    batch = [
        record("1", amount=5, ts=1, meta={"trace": "x", "region": "eu"}),
        record("2", amount=5, ts=2, meta={"region": "eu", "trace": "y"}),
        record("3", amount=6, ts=3, meta={"trace": "z", "region": "eu"}),
    ]
    first = await engine.check_batch(batch, T0)
    assert results(first) == [DedupeResult.UNIQUE, DedupeResult.DUPLICATE, DedupeResult.UNIQUE]
    [later] = await engine.check_batch([record("4", amount=5, ts=9, meta={"region": "eu"})], T0 + 1)
    assert later.result is DedupeResult.DUPLICATE


async def test_event_time_clock_measures_the_window_between_event_times() -> None:
    engine = engine_for(DedupeConfig(mode=DedupeMode.EXACT, clock=WindowClock.EVENT_TIME))
    await engine.check_batch([record("a", event_time=T0)], T0)
    [near] = await engine.check_batch([record("a", event_time=T0 + WINDOW)], T0 + 10)
    assert near.result is DedupeResult.DUPLICATE
    [far] = await engine.check_batch([record("a", event_time=T0 + WINDOW + 1)], T0 + 20)
    assert far.result is DedupeResult.LATE


async def test_bloom_mode_without_redis_uses_the_local_filter() -> None:
    engine = engine_for(DedupeConfig(mode=DedupeMode.BLOOM, bloom_capacity=1_000))
    first = await engine.check_batch([record(f"id{i}") for i in range(50)], T0)
    assert results(first).count(DedupeResult.UNIQUE) >= 49
    again = await engine.check_batch([record(f"id{i}") for i in range(50)], T0 + 1)
    assert results(again) == [DedupeResult.DUPLICATE] * 50


async def test_mode_off_and_per_source_configs() -> None:
    registry = DedupeConfigRegistry(default=DedupeConfig(mode=DedupeMode.OFF))
    registry.set_source("orders", DedupeConfig(mode=DedupeMode.EXACT))
    engine = DedupeEngine(registry, None)
    batch = [record("a", "clicks"), record("a", "clicks"), record("a"), record("a")]
    assert results(await engine.check_batch(batch, T0)) == [
        DedupeResult.UNIQUE,
        DedupeResult.UNIQUE,
        DedupeResult.UNIQUE,
        DedupeResult.DUPLICATE,
    ]


async def test_sources_do_not_share_ids() -> None:
    engine = engine_for(DedupeConfig(mode=DedupeMode.EXACT))
    verdicts = await engine.check_batch([record("a", "orders"), record("a", "clicks")], T0)
    assert results(verdicts) == [DedupeResult.UNIQUE, DedupeResult.UNIQUE]


async def test_stream_stage_uses_the_given_table_as_state() -> None:
    table: dict[str, int] = {}
    engine = engine_for(DedupeConfig(mode=DedupeMode.EXACT), stage=DedupeStage.STREAM, state=table)
    await engine.check_batch([record("a")], T0)
    assert list(table.values()) == [T0]
    restarted = engine_for(
        DedupeConfig(mode=DedupeMode.EXACT), stage=DedupeStage.STREAM, state=table
    )
    [verdict] = await restarted.check_batch([record("a")], T0 + 5)
    assert verdict.result is DedupeResult.DUPLICATE


async def test_metrics_and_stats_count_results_per_mode_and_source() -> None:
    registry = CollectorRegistry()
    metrics = DedupeMetrics(registry)
    engine = engine_for(DedupeConfig(mode=DedupeMode.EXACT), metrics=metrics)
    await engine.check_batch([record("a"), record("a"), record("b"), record("a")], T0)
    await engine.check_batch([record("b")], T0 + WINDOW + 1)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    counted = {
        result: sample(
            "datanexus_dedupe_records_total", mode="exact", source="orders", result=result
        )
        for result in ("unique", "duplicate", "late")
    }
    assert counted == {"unique": 2.0, "duplicate": 2.0, "late": 1.0}
    assert sample("datanexus_dedupe_ratio", mode="exact", source="orders") == pytest.approx(0.6)
    stats = await engine.stats(T0)
    orders = stats["sources"]["orders"]["results"]["exact"]
    assert orders == {"unique": 2, "duplicate": 2, "late": 1, "total": 5, "dedupe_ratio": 0.6}
    assert stats["degraded"] is False
