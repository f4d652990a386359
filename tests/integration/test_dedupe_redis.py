"""The dedupe engine against the real Redis: shared state across instances, late duplicates,
and an outage with catch-up (simulated by a client on a closed port, never by stopping Redis)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tables.dedupe import (
    DedupeConfig,
    DedupeConfigRegistry,
    DedupeEngine,
    DedupeMode,
    DedupeResult,
    DedupeStage,
    Record,
)
from tables.dedupe.client import dedupe_redis_client
from tables.dedupe.redis_mirror import PendingBloomAdd

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return int(time.time() * 1000)


def record(record_id: str, **payload: object) -> Record:
    t = now_ms()
    return {
        "id": record_id,
        "source": "orders",
        "event_time": t,
        "payload": dict(payload) or {"v": record_id},
        "ingested_at": t,
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    name = f"test:dedupe:{uuid.uuid4().hex}"
    yield name
    keys = [key async for key in redis.scan_iter(match=f"{name}*", count=1000)]
    if keys:
        await redis.delete(*keys)


def make_engine(
    redis: Redis | None, prefix: str, config: DedupeConfig, **kwargs: object
) -> DedupeEngine:
    return DedupeEngine(
        DedupeConfigRegistry(default=config),
        redis,
        key_prefix=prefix,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("mode", [DedupeMode.EXACT, DedupeMode.FUZZY, DedupeMode.BLOOM])
async def test_two_instances_sharing_redis_accept_each_id_once(
    redis: Redis, prefix: str, mode: DedupeMode
) -> None:
    config = DedupeConfig(mode=mode, bloom_capacity=10_000)
    first = make_engine(redis, prefix, config)
    second = make_engine(redis, prefix, config)
    ids = [f"id-{i}" for i in range(200)]
    batch_one = [record(i, body=i) for i in ids[:150]]
    batch_two = [record(i, body=i) for i in ids[50:]]
    verdicts = await asyncio.gather(
        first.check_batch(batch_one, now_ms()), second.check_batch(batch_two, now_ms())
    )
    accepted = [
        r["id"]
        for batch, results in zip((batch_one, batch_two), verdicts, strict=True)
        for r, v in zip(batch, results, strict=True)
        if v.result is DedupeResult.UNIQUE
    ]
    assert sorted(accepted) == sorted(ids)


async def test_stream_stage_does_not_mistake_the_edge_mirror_for_a_duplicate(
    redis: Redis, prefix: str
) -> None:
    config = DedupeConfig(mode=DedupeMode.EXACT)
    edge = make_engine(redis, prefix, config)
    worker = make_engine(redis, prefix, config, stage=DedupeStage.STREAM, state={})
    [at_edge] = await edge.check_batch([record("x")], now_ms())
    [in_worker] = await worker.check_batch([record("x")], now_ms())
    assert (at_edge.result, in_worker.result) == (DedupeResult.UNIQUE, DedupeResult.UNIQUE)
    # the worker mirrors its first-seen ids, so edge instances drop their duplicates
    [worker_first] = await worker.check_batch([record("y")], now_ms())
    [edge_after] = await make_engine(redis, prefix, config).check_batch([record("y")], now_ms())
    assert (worker_first.result, edge_after.result) == (
        DedupeResult.UNIQUE,
        DedupeResult.DUPLICATE,
    )
    assert int(await redis.pttl(f"{prefix}:{{orders}}:exact:y")) <= config.window_ms


async def test_after_the_window_a_fresh_instance_reports_late(redis: Redis, prefix: str) -> None:
    config = DedupeConfig(mode=DedupeMode.EXACT, window_ms=1_000, late_policy="drop")  # type: ignore[arg-type]
    await make_engine(redis, prefix, config).check_batch([record("z")], now_ms())
    await asyncio.sleep(1.2)  # the Redis key expires with its window
    assert await redis.exists(f"{prefix}:{{orders}}:exact:z") == 0
    late, fresh = await make_engine(redis, prefix, config).check_batch(
        [record("z"), record("w")], now_ms()
    )
    assert late.result is DedupeResult.LATE
    assert late.action.value == "drop"
    assert "late summary" in late.reason
    assert fresh.result is DedupeResult.UNIQUE


async def test_outage_keeps_exact_locally_reports_degraded_and_catches_up(
    redis: Redis, prefix: str
) -> None:
    config = DedupeConfig(mode=DedupeMode.EXACT)
    down = dedupe_redis_client(f"redis://127.0.0.1:{closed_port()}/0", timeout_s=0.2)
    engine = make_engine(down, prefix, config, retry_interval_ms=0)
    t = now_ms()
    verdicts = await engine.check_batch([record("a"), record("b"), record("a")], t)
    assert [v.result for v in verdicts] == [
        DedupeResult.UNIQUE,
        DedupeResult.UNIQUE,
        DedupeResult.DUPLICATE,
    ]
    [again] = await engine.check_batch([record("b")], t + 10)
    assert again.result is DedupeResult.DUPLICATE
    health = engine.health()
    assert health["degraded"] is True
    assert health["catch_up_pending"] >= 2
    assert await redis.exists(f"{prefix}:{{orders}}:exact:a") == 0

    engine.redis = redis  # Redis is back
    [c] = await engine.check_batch([record("c")], t + 20)
    assert c.result is DedupeResult.UNIQUE
    assert engine.health() == {
        "degraded": False,
        "redis_error": None,
        "catch_up_pending": 0,
        "catch_up_dropped": 0,
    }
    assert int(await redis.get(f"{prefix}:{{orders}}:exact:a") or 0) == t
    other = make_engine(redis, prefix, config)
    results = await other.check_batch([record("a"), record("b"), record("c")], t + 30)
    assert [v.result for v in results] == [DedupeResult.DUPLICATE] * 3
    await down.aclose()


async def test_flush_catch_up_without_traffic_and_bloom_outage(redis: Redis, prefix: str) -> None:
    config = DedupeConfig(mode=DedupeMode.BLOOM, bloom_capacity=10_000)
    down = dedupe_redis_client(f"redis://127.0.0.1:{closed_port()}/0", timeout_s=0.2)
    engine = make_engine(down, prefix, config, retry_interval_ms=0)
    t = now_ms()
    verdicts = await engine.check_batch([record("p"), record("q"), record("p")], t)
    assert [v.result for v in verdicts] == [
        DedupeResult.UNIQUE,
        DedupeResult.UNIQUE,
        DedupeResult.DUPLICATE,
    ]
    assert engine.degraded
    assert await engine.flush_catch_up(t + 5) is False
    engine.redis = redis
    assert await engine.flush_catch_up(t + 10) is True
    assert not engine.degraded
    other = make_engine(redis, prefix, config)
    results = await other.check_batch([record("p"), record("q"), record("r")], t + 20)
    assert [v.result for v in results] == [
        DedupeResult.DUPLICATE,
        DedupeResult.DUPLICATE,
        DedupeResult.UNIQUE,
    ]
    stats = await other.stats(t + 20)
    bloom = stats["sources"]["orders"]["bloom"]
    assert bloom["fill_ratios"][0] > 0
    assert 0 < bloom["expected_fp_rate_now"] < config.bloom_fp_rate
    await down.aclose()


async def test_release_lets_a_retry_through_after_a_failed_hand_off(
    redis: Redis, prefix: str
) -> None:
    config = DedupeConfig(mode=DedupeMode.EXACT)
    edge = make_engine(redis, prefix, config)
    other = make_engine(redis, prefix, config)
    t = now_ms()
    batch = [record("r1"), record("r2")]
    verdicts = await edge.check_batch(batch, t)
    [kept] = await other.check_batch([record("keep")], t)
    await edge.release(batch, verdicts, t)  # e.g. Kafka did not acknowledge the batch
    # the client retries, here through another instance
    retry = await other.check_batch([*batch, record("keep")], t + 5)
    assert [v.result for v in retry] == [
        DedupeResult.UNIQUE,
        DedupeResult.UNIQUE,
        DedupeResult.DUPLICATE,
    ]
    assert kept.result is DedupeResult.UNIQUE
    assert int(await redis.get(f"{prefix}:{{orders}}:exact:r1") or 0) == t + 5
    [again] = await edge.check_batch([record("r1")], t + 6)
    assert again.result is DedupeResult.DUPLICATE


@pytest.mark.parametrize("redis_up", [True, False])
async def test_deferred_bloom_adds_keep_an_unacknowledged_batch_replayable(
    redis: Redis, prefix: str, redis_up: bool
) -> None:
    """The stream stage checks Bloom filters without adding and adds only once its output was
    acknowledged: a batch whose send failed (or whose worker died) is not dropped on replay."""
    config = DedupeConfig(mode=DedupeMode.BLOOM, bloom_capacity=10_000)
    down = dedupe_redis_client(f"redis://127.0.0.1:{closed_port()}/0", timeout_s=0.2)
    engine = make_engine(redis if redis_up else down, prefix, config, stage=DedupeStage.STREAM)
    t = now_ms()
    batch = [record("u"), record("v"), record("u")]
    adds: list[PendingBloomAdd] = []
    first = await engine.check_batch(batch, t, adds)
    unique_repeat = [DedupeResult.UNIQUE, DedupeResult.UNIQUE, DedupeResult.DUPLICATE]
    assert [v.result for v in first] == unique_repeat
    assert sorted((a.target, a.key) for a in adds if a.target == "window") == [
        ("window", b"u"),
        ("window", b"v"),
    ]
    # the output was never acknowledged: the replay decides exactly as the first attempt
    replay_adds: list[PendingBloomAdd] = []
    assert [v.result for v in await engine.check_batch(batch, t + 5, replay_adds)] == unique_repeat
    await engine.apply_bloom_adds(replay_adds, t + 10)  # acknowledged now
    after = await engine.check_batch([record("u"), record("w")], t + 20, [])
    assert [v.result for v in after] == [DedupeResult.DUPLICATE, DedupeResult.UNIQUE]
    if not redis_up:  # the adds wait in the catch-up queue and reach Redis once it is back
        assert engine.degraded and len(engine.catch_up) > 0
        engine.redis = redis
        assert await engine.flush_catch_up(t + 30) is True
    other = make_engine(redis, prefix, config, stage=DedupeStage.STREAM)
    shared = await other.check_batch([record("u"), record("v"), record("x")], t + 40, [])
    assert [v.result for v in shared] == [DedupeResult.DUPLICATE] * 2 + [DedupeResult.UNIQUE]
    await down.aclose()


async def test_batch_wide_bloom_lookups_answer_every_partition_in_one_round_trip(
    redis: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tables.dedupe.engine as engine_module
    from tables.dedupe.prefetch import prefetch_bloom

    config = DedupeConfig(mode=DedupeMode.BLOOM, bloom_capacity=10_000)
    engine = make_engine(redis, prefix, config, stage=DedupeStage.STREAM)
    t = now_ms()
    adds: list[PendingBloomAdd] = []
    await engine.check_batch([record("seen-1"), record("seen-2")], t, adds)
    await engine.apply_bloom_adds(adds, t)
    partitions = [[record("seen-1"), record("new-1")], [record("seen-2"), record("new-2")]]
    expected = [[DedupeResult.DUPLICATE, DedupeResult.UNIQUE]] * 2

    round_trips: list[int] = []
    real = engine_module.execute_pipeline

    async def counted(*args: object, **kwargs: object) -> object:
        round_trips.append(1)
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "execute_pipeline", counted)
    await prefetch_bloom(engine, [r for group in partitions for r in group], t + 1)
    got = [[v.result for v in await engine.check_batch(g, t + 1, [])] for g in partitions]
    engine.bloom_answers = {}
    assert got == expected
    assert round_trips == []  # the partitions found their lookups answered
    without = make_engine(redis, prefix, config, stage=DedupeStage.STREAM)
    assert [[v.result for v in await without.check_batch(g, t + 1, [])] for g in partitions] == (
        expected
    )
    assert len(round_trips) == 2  # one per partition without the batch-wide lookup
