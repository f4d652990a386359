"""De-duplication throughput and Bloom memory/accuracy, against a real Redis.

Every mode runs the same batch loop (decode JSON -> dedupe -> encode and hand the forwarded
records to a sink); passthrough is that loop with dedupe off, and each mode is reported as a
ratio to it. `--sink null` measures the bare loop (worst case for the ratio: nothing else
costs time), `--sink kafka` sends to an embedded broker with the app's FastProducer, like the
HTTP ingest does.

Bloom memory and accuracy: a time-sliced filter filled to capacity over one window; prints the
measured false-positive rate, bits per key of one slice against the optimum for the slice's own
target (sizing), and of the whole filter in Redis against a static filter's optimum together with
the (S+1)/S x (1 + ln(S+1)/ln(1/p)) overhead that time slicing costs (tables/bloom/slices.py).

Through the worker (the product path): the same records, keyed by id, are produced to the raw topic
of an embedded broker and a DataNexus worker (`python -m app.cli worker`, Redis configured)
consumes them through the Kafka ingest agent (triage + stream de-duplication stage + forward);
passthrough is that worker with dedupe mode `off`, each mode is reported as a ratio to it (targets:
exact >= 0.5, bloom >= 0.7). Rates are measured from the first to the last processed record of a
backlog, so worker start-up is not counted.

    python bench/dedupe.py [--records 200000] [--worker-records 60000] [--batch 1000]
                           [--sink null|kafka] [--skip-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from tables.bloom import RedisSlicedBloom, SlicePlan, optimal_bits_per_key
from tables.bloom.slices import best_slice_count, slicing_overhead
from tables.dedupe import (
    DedupeConfig,
    DedupeConfigRegistry,
    DedupeEngine,
    DedupeMode,
    Record,
)

Sink = Callable[[list[bytes]], Awaitable[None]]
MODES = (DedupeMode.OFF, DedupeMode.EXACT, DedupeMode.FUZZY, DedupeMode.BLOOM)


@dataclass(frozen=True)
class BenchOptions:
    records: int
    batch: int
    duplicate_share: float
    bloom_capacity: int
    bloom_fp_rate: float
    redis_url: str
    sink: str
    worker_records: int
    worker_rounds: int


def make_payloads(count: int, duplicate_share: float, seed: int = 7) -> list[bytes]:
    """JSON records as the ingest path receives them; a share repeats earlier ids/payloads."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    out: list[bytes] = []
    originals: list[dict[str, Any]] = []
    for index in range(count):
        if originals and rng.random() < duplicate_share:
            record = dict(rng.choice(originals))
            record["payload"] = {**record["payload"], "trace_id": f"t{index}"}
        else:
            record = {
                "id": f"evt-{index}-{rng.getrandbits(32):08x}",
                "source": "bench",
                "event_time": now + index,
                "payload": {"user": rng.randrange(10_000), "amount": index % 977, "trace_id": ""},
                "ingested_at": now + index,
            }
            originals.append(record)
        out.append(orjson.dumps(record))
    return out


async def run_loop(
    engine: DedupeEngine | None,
    payloads: Sequence[bytes],
    batch: int,
    sink: Sink,
    span_ms: int = 300_000,
) -> tuple[float, int]:
    """The shared batch loop; returns (records per second, forwarded count).

    The clock handed to the engine advances so that the records spread evenly over `span_ms`
    (one dedupe window): the time-sliced Bloom filter then sees its configured capacity per
    window, as in a stream arriving at capacity rate, instead of everything in one slice.
    """
    forwarded = 0
    clock_start = int(time.time() * 1000)
    batches = max(1, (len(payloads) + batch - 1) // batch)
    started = time.perf_counter()
    for number, start in enumerate(range(0, len(payloads), batch)):
        chunk = payloads[start : start + batch]
        records: list[Record] = [orjson.loads(raw) for raw in chunk]
        now_ms = clock_start + number * span_ms // batches
        if engine is None:
            out = [orjson.dumps(record) for record in records]
        else:
            verdicts = await engine.check_batch(records, now_ms)
            out = [orjson.dumps(r) for r, v in zip(records, verdicts, strict=True) if v.forward]
        forwarded += len(out)
        await sink(out)
    return len(payloads) / (time.perf_counter() - started), forwarded


async def null_sink(_batch: list[bytes]) -> None:
    return None


async def open_sink(kind: str, stack: AsyncExitStack) -> Sink:
    if kind == "null":
        return null_sink
    from app.dev_broker import EmbeddedBroker
    from app.producer import FastProducer

    broker = stack.enter_context(EmbeddedBroker().start())
    producers = [FastProducer(broker.bootstrap)]
    topic = "bench.dedupe"

    def close_producer() -> None:
        # drop the last reference before the broker stops, or librdkafka keeps reconnecting
        producers.pop().close()
        gc.collect()

    stack.callback(close_producer)

    async def kafka_sink(batch: list[bytes]) -> None:
        await producers[0].send_batch(topic, [(None, value, None) for value in batch])

    await kafka_sink([b"warm-up"])
    return kafka_sink


async def bench_modes(options: BenchOptions, redis: Redis, sink: Sink) -> dict[str, float]:
    payloads = make_payloads(options.records, options.duplicate_share)
    prefix = f"bench:dedupe:{os.getpid()}"
    rates: dict[str, float] = {}
    for mode in MODES:
        config = DedupeConfig(
            mode=mode,
            ignore_fields=("trace_id",),
            # the loop spreads all records over one window: a smaller capacity would overfill
            # the filter and drop unique records as false positives
            bloom_capacity=max(options.bloom_capacity, options.records),
            bloom_fp_rate=options.bloom_fp_rate,
        )
        engine = None
        if mode is not DedupeMode.OFF:
            engine = DedupeEngine(
                DedupeConfigRegistry(default=config), redis, key_prefix=f"{prefix}:{mode}"
            )
        rate, forwarded = await run_loop(engine, payloads, options.batch, sink)
        rates[mode.value] = rate
        print(f"  {mode.value:<8} {rate:>10,.0f} records/s  forwarded {forwarded:,}")
        await delete_prefix(redis, f"{prefix}:{mode}")
    return rates


async def bench_bloom_accuracy(options: BenchOptions, redis: Redis) -> dict[str, float]:
    """Fill a sliced filter to capacity over one window, then probe keys never added.

    The plan is the one the engine builds from the default config (slice count chosen
    automatically for the target rate, see tables/bloom/slices.py)."""
    capacity, fp_rate = options.bloom_capacity, options.bloom_fp_rate
    config = DedupeConfig(mode=DedupeMode.BLOOM, bloom_capacity=capacity, bloom_fp_rate=fp_rate)
    plan = SlicePlan.for_window(config.window_ms, config.bloom_slices, capacity, fp_rate)
    prefix = f"bench:bloom:{os.getpid()}"
    bloom = RedisSlicedBloom(redis, prefix, plan)
    start_ms = 1_700_000_000_000
    step = 1_000
    spread = plan.window_ms - plan.slice_ms // 10
    for first in range(0, capacity, step):
        keys = [f"in-{i}".encode() for i in range(first, min(first + step, capacity))]
        await bloom.check_and_add(keys, start_ms + first * spread // capacity)
    end_ms = start_ms + spread
    probes = 100_000
    false_positives = 0
    for first in range(0, probes, 5_000):
        keys = [f"out-{i}".encode() for i in range(first, first + 5_000)]
        false_positives += sum(await bloom.contains(keys, end_ms))
    memory_bits = await bloom.memory_bits(end_ms)
    await delete_prefix(redis, prefix)
    return {
        "slices": plan.slices,
        "hashes": plan.sizing.hashes,
        "slice_fp_rate": plan.sizing.fp_rate,
        "measured_fp_rate": false_positives / probes,
        "bits_per_key_in_slice": plan.sizing.bits_per_key,
        "optimum_for_slice_target": optimal_bits_per_key(plan.sizing.fp_rate),
        "redis_bits_per_window_key": memory_bits / capacity,
        "optimum_bits_per_key": optimal_bits_per_key(fp_rate),
        "predicted_overhead": slicing_overhead(plan.slices, fp_rate),
        "best_overhead": slicing_overhead(best_slice_count(fp_rate), fp_rate),
        "overhead_4_slices": slicing_overhead(4, fp_rate),
    }


def print_bloom_report(options: BenchOptions, accuracy: dict[str, float]) -> None:
    """Three honest figures: per-slice sizing vs its optimum (the part sizing controls), the
    whole time-sliced filter vs a static filter's optimum (the issue's metric; its floor is
    set by slicing, see tables/bloom/slices.py), and the measured false-positive rate."""
    p, slices = options.bloom_fp_rate, int(accuracy["slices"])
    measured = accuracy["measured_fp_rate"]
    verdict = "ok" if measured <= p else "ABOVE TARGET"
    print(
        f"bloom at capacity {options.bloom_capacity:,}, target p={p}: measured fp "
        f"{measured:.4%} ({verdict}); S={slices} slices (+1 rotating), k={int(accuracy['hashes'])}"
    )
    slice_ratio = accuracy["bits_per_key_in_slice"] / accuracy["optimum_for_slice_target"]
    print(
        f"  per slice: {accuracy['bits_per_key_in_slice']:.2f} bits/key vs optimum "
        f"-ln(p/(S+1))/(ln 2)^2 = {accuracy['optimum_for_slice_target']:.2f} "
        f"at p/(S+1)={accuracy['slice_fp_rate']:.5f} ({slice_ratio:.3f}x)"
    )
    optimum = accuracy["optimum_bits_per_key"]
    whole = accuracy["redis_bits_per_window_key"]
    print(
        f"  whole filter (Redis STRLEN of live slices): {whole:.2f} bits per window key vs "
        f"static-filter optimum -ln p/(ln 2)^2 = {optimum:.2f} ({whole / optimum:.3f}x; "
        f"target 1.10x not reachable by a time-sliced filter)"
    )
    print(
        f"  predicted (S+1)/S x (1 + ln(S+1)/ln(1/p)) = {accuracy['predicted_overhead']:.3f}x "
        f"at S={slices} (best over S=1..24: {accuracy['best_overhead']:.3f}x; "
        f"S=4: {accuracy['overhead_4_slices']:.3f}x)"
    )


async def delete_prefix(redis: Redis, prefix: str) -> None:
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=10_000)]
    for first in range(0, len(keys), 10_000):
        await redis.delete(*keys[first : first + 10_000])


async def main_async(options: BenchOptions) -> None:
    redis = Redis.from_url(options.redis_url)
    async with AsyncExitStack() as stack:
        sink = await open_sink(options.sink, stack)
        print(
            f"dedupe bench: {options.records:,} records, batch {options.batch}, "
            f"{options.duplicate_share:.0%} repeats, sink={options.sink}"
        )
        rates = await bench_modes(options, redis, sink)
    print_ratios("batch loop, ratio to passthrough", rates, WORKER_TARGETS)
    if options.worker_records:
        print(
            f"through a DataNexus worker: {options.worker_records:,} records "
            f"({options.duplicate_share:.0%} repeats) on the embedded broker, Redis mirror on"
        )
        loop = asyncio.get_running_loop()
        worker_rates = await loop.run_in_executor(None, bench_through_worker, options)
        print_ratios("through the worker, ratio to passthrough", worker_rates, WORKER_TARGETS)
    accuracy = await bench_bloom_accuracy(options, redis)
    print_bloom_report(options, accuracy)
    await redis.aclose()


WORKER_PARTITIONS = 4
WORKER_TARGETS = {"exact": 0.5, "fuzzy": None, "bloom": 0.7}


def wait_processed(worker: Any, expected: int, timeout_s: float = 600) -> float:
    """Rate from the first processed record seen to the last (polls the worker's metric)."""
    first: tuple[float, float] | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        count = float(worker.metric("datanexus_ingest_records_total", path="kafka"))
        now = time.perf_counter()
        if count and first is None:
            first = (now, count)
        if count >= expected:
            assert first is not None
            return (count - first[1]) / max(now - first[0], 1e-9)
        time.sleep(0.05)
    raise TimeoutError(f"worker processed only part of {expected} records")


def bench_through_worker(options: BenchOptions) -> dict[str, float]:
    """records/s of the Kafka ingest agent per mode, each in a fresh worker on one broker."""
    from confluent_kafka import Producer

    from app.dev_broker import EmbeddedBroker
    from app.testing import WorkerProcess, unique_topics
    from app.topics import ensure_topics

    payloads = make_payloads(options.worker_records, options.duplicate_share, seed=11)
    keyed = [(orjson.loads(raw)["id"].encode(), raw) for raw in payloads]
    rates: dict[str, float] = {}
    runs = [(round_, mode) for round_ in range(options.worker_rounds) for mode in MODES]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        for round_, mode in runs:
            topics = unique_topics(f"dd{mode.value}")
            ensure_topics(broker.bootstrap, list(topics.values()), WORKER_PARTITIONS)
            producer = Producer(
                {
                    "bootstrap.servers": broker.bootstrap,
                    "partitioner": "murmur2_random",
                    "linger.ms": 5,
                    "batch.num.messages": 10_000,
                }
            )
            for key, value in keyed:
                while True:
                    try:
                        producer.produce(topics["DATANEXUS_TOPIC_RAW"], value, key)
                        break
                    except BufferError:
                        producer.poll(0.01)
            producer.flush(60)
            config = {
                "mode": mode.value,
                "ignore_fields": ["trace_id"],
                # the whole backlog arrives within one slice of the window, and a slice holds
                # capacity/S keys: size for that (S as the engine chooses it for this rate)
                "bloom_capacity": max(
                    options.bloom_capacity, best_slice_count(options.bloom_fp_rate) * len(keyed)
                ),
                "bloom_fp_rate": options.bloom_fp_rate,
            }
            env = {
                **topics,
                "DATANEXUS_REDIS_URL": options.redis_url,
                "DATANEXUS_DEDUPE_KEY_PREFIX": f"bench:worker:{uuid.uuid4().hex[:8]}",
                "DATANEXUS_DEDUPE_CONFIG": json.dumps({"default": config}),
                "DATANEXUS_PARTITIONS": str(WORKER_PARTITIONS),
                "DATANEXUS_LOG_LEVEL": "warning",
            }
            worker = WorkerProcess(
                bootstrap=broker.bootstrap, data_dir=Path(tmp) / f"{mode.value}{round_}", env=env
            )
            worker.start()
            try:
                rate = wait_processed(worker, len(keyed))
                status, stats = worker.get("/v1/dedupe/stats")
                results = stats["stream"]["sources"].get("bench", {}).get("results", {})
                counts = results.get(mode.value, {}) if status == 200 else {}
            finally:
                worker.stop()
            # best of the rounds: the machine is shared, contention only ever slows a run down
            rates[mode.value] = max(rate, rates.get(mode.value, 0.0))
            dropped = counts.get("duplicate", 0)
            print(
                f"  round {round_ + 1} worker {mode.value:<8} {rate:>10,.0f} records/s"
                f"  duplicates dropped {dropped:,}"
            )
    return rates


def print_ratios(title: str, rates: dict[str, float], targets: dict[str, float | None]) -> None:
    base = rates[DedupeMode.OFF.value]
    print(f"{title} (passthrough {base:,.0f} records/s):")
    for mode, target in targets.items():
        ratio = rates[mode] / base
        verdict = "" if target is None else (" ok" if ratio >= target else " BELOW TARGET")
        goal = "" if target is None else f" (target >= {target:.0%})"
        print(f"  {mode:<8} {ratio:6.1%}{goal}{verdict}")


def parse_args(argv: Sequence[str] | None = None) -> BenchOptions:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--bloom-capacity", type=int, default=100_000)
    parser.add_argument("--bloom-fp-rate", type=float, default=0.01)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--sink", choices=("null", "kafka"), default="null")
    parser.add_argument("--worker-records", type=int, default=60_000)
    parser.add_argument("--worker-rounds", type=int, default=2, help="best of N per mode")
    parser.add_argument("--skip-worker", action="store_true")
    args = parser.parse_args(argv)
    return BenchOptions(
        records=args.records,
        batch=args.batch,
        duplicate_share=args.duplicates,
        bloom_capacity=args.bloom_capacity,
        bloom_fp_rate=args.bloom_fp_rate,
        redis_url=args.redis_url,
        sink=args.sink,
        worker_records=0 if args.skip_worker else args.worker_records,
        worker_rounds=args.worker_rounds,
    )


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
