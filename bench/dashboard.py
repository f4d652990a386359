"""Dashboard refresh benchmark: query engine with optimisations on vs off, same data, same run.

Loads minute-window aggregates into a rocksdict aggregate store (``dashboard_load``: sorted SST
files ingested in one call, same bytes as ``put_many``), then viewers refresh one 24-widget
dashboard of overlapping ranges while a writer keeps updating the current minute of every key
(open windows -> ``record_windows`` -> invalidation). Reports refresh latency (incl. JSON
encoding of the response) and backend fetches (store range reads).

    python bench/dashboard.py [--keys 1000] [--metrics 50] [--days 7] [--other-days 1]

Scale: the issue's 50 metrics x 1,000 keys x 7 days is 504M windows. The dashboard reads 6
metrics; by default those get the full 1,000 keys x 7 days (60M windows) and the other 44 metrics
1,000 keys x 1 day (63M), which loads in about a minute here (~1.9M windows/s on a shared 2-core
machine). ``--other-days 7`` loads all 504M (several minutes, ~10 GB of disk).

Freshness: open buckets are invalidated by every write (``record_windows``); their TTL is only
the safety net for writes nobody signalled, and running out means re-reading the whole open
block (1,000 keys x 60 minutes per metric). The engine re-reads it in the background before it
expires (``refresh_ahead``), but on a shared 2-core machine that costs CPU in proportion to
1 / freshness; the default here is 60 s (``--freshness-ms 5000`` shows the cost of 5 s).

Garbage collector: like the worker that hosts the query engine (``app.main`` on start-up), each
mode starts with ``app.gc_tuning.freeze_startup_heap`` (``--no-gc-freeze``: CPython defaults,
whose full collections of the loaded heap show up as 20-50 ms pauses in the tail).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from dashboard_load import DAY, MIN, LoadPlan, group_key, load, open_store

from app.gc_tuning import freeze_startup_heap
from tables.aggstore import RocksAggregateStore, WindowAggregate
from tables.query import (
    Dashboard,
    EngineConfig,
    MetricCatalog,
    MetricSpec,
    QueryEngine,
    refresh,
    wall_clock_ms,
)

WIDGET_METRICS = 6
"""The dashboard reads m0..m5 (four widgets each); the other metrics only fill the store."""
DIMENSIONS = ("region", "device")
WRITE_EVERY_S = 0.2


def dashboard(metrics: int) -> Dashboard:
    widgets: list[dict[str, Any]] = []
    for m in range(min(WIDGET_METRICS, metrics)):
        base = {"metric": f"m{m}", "to": "now"}
        widgets += [
            {**base, "from": "now-1h", "step": "1m", "aggregate": "clicks.count"},
            {**base, "from": "now-6h", "step": "5m", "aggregate": "amount.mean"},
            {
                **base,
                "from": "now-24h",
                "step": "15m",
                "aggregate": "amount.sum",
                "group_by": ["region"],
            },
            {
                **base,
                "from": "now-24h",
                "step": "1h",
                "aggregate": "clicks.count",
                "filters": {"device": ["d1", "d2"]},
            },
        ]
    items = [{"id": f"w{i}", "query": q} for i, q in enumerate(widgets)]
    return Dashboard.from_dict({"title": "bench", "widgets": items}, "bench")


async def live_writer(engine: QueryEngine, metrics: int, keys: int, stop: asyncio.Event) -> None:
    """Keeps the current minute's (open) windows of every key of the dashboard's metrics changing,
    like ``on_update`` pipelines: every 200 ms one ``record_windows`` batch of all keys per metric.
    """
    rng = random.Random(11)
    names = [group_key(k) for k in range(keys)]
    while not stop.is_set():
        now = wall_clock_ms()
        start = now - now % MIN
        for m in range(min(WIDGET_METRICS, metrics)):
            await engine.record_windows(
                WindowAggregate(
                    f"m{m}",
                    name,
                    start,
                    start + MIN,
                    {"clicks.count": clicks % 6, "amount.sum": 1.0, "amount.count": 1},
                    False,
                )
                for name, clicks in zip(names, rng.randbytes(keys), strict=True)
            )
            await asyncio.sleep(0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), WRITE_EVERY_S)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_mode(
    store: RocksAggregateStore,
    catalog: MetricCatalog,
    config: EngineConfig,
    board: Dashboard,
    args: argparse.Namespace,
    viewers: int,
    refreshes: int,
    seconds: float | None = None,
) -> dict[str, Any]:
    """Round 0: every viewer opens the dashboard at once on a cold cache. Then each viewer keeps
    refreshing: ``refreshes - 1`` more times, or until ``seconds`` have passed."""
    if args.gc_freeze:
        freeze_startup_heap()  # as the worker does once started (app.main)
    engine = QueryEngine(store, catalog, config)
    latencies: list[tuple[int, float, float]] = []  # (round, started since warm start, seconds)
    warm_start = 0.0
    deadline = float("inf")  # read by the viewers when they run: set for the warm phase below

    async def viewer(seed: int, round_no: int, rounds: int) -> None:
        rng = random.Random(seed)
        offset = 0
        while offset < rounds and time.perf_counter() < deadline:
            started = time.perf_counter()
            data = await refresh(board, engine)
            orjson.dumps(data)
            took = time.perf_counter() - started
            latencies.append((round_no + offset, started - warm_start, took))
            await asyncio.sleep(rng.uniform(0, 0.02))
            offset += 1

    stop = asyncio.Event()
    writer = asyncio.create_task(live_writer(engine, args.metrics, args.keys, stop))
    wall = time.perf_counter()
    await asyncio.gather(*(viewer(v, 0, 1) for v in range(viewers)))
    warm_start = time.perf_counter()
    if seconds is not None:
        deadline, refreshes = warm_start + seconds, 1 << 30
    await asyncio.gather(*(viewer(v, 1, refreshes - 1) for v in range(viewers)))
    wall = time.perf_counter() - wall
    stop.set()
    await writer
    await engine.close()
    stats = engine.stats()
    cold = [s for r, _, s in latencies if r == 0]
    # without a cache every refresh is cold: then all of them count as "warm"
    warm = [s for r, _, s in latencies if r > 0 or not config.cache]
    return {
        "refreshes": len(latencies),
        "cold_p50_ms": 1000 * statistics.median(cold),
        "cold_max_ms": 1000 * max(cold),
        "p50_ms": _pct(warm, 0.5),
        "p99_ms": _pct(warm, 0.99),
        "backend_fetches": stats["backend_fetches"],
        "tail_reads": stats["tail_reads"],
        "fetches_per_refresh": stats["backend_fetches"] / len(latencies),
        "records_read_per_refresh": stats["records_read"] / len(latencies),
        "hit_ratio": stats["cache_hit_ratio"],
        "coalesced": stats["coalesced_queries"],
        "merged_batches": stats["merged_batches"],
        "invalidations": stats["invalidations"],
        "resumed": stats["resumed_blocks"],
        "refreshed": stats["refreshed_blocks"],
        "wall_s": wall,
    }


def _report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    columns = {
        "refreshes": "{}",
        "cold_p50_ms": "{:.1f}",
        "cold_max_ms": "{:.1f}",
        "p50_ms": "{:.1f}",
        "p99_ms": "{:.1f}",
        "backend_fetches": "{}",
        "tail_reads": "{}",
        "fetches_per_refresh": "{:.2f}",
        "records_read_per_refresh": "{:,.0f}",
        "hit_ratio": "{:.3f}",
        "coalesced": "{}",
        "merged_batches": "{}",
        "resumed": "{}",
        "refreshed": "{}",
    }
    print("mode | " + " | ".join(columns))
    for mode, r in results.items():
        print(mode + " | " + " | ".join(fmt.format(r[name]) for name, fmt in columns.items()))
    on, off = results["on"], results.get("off")
    if off is not None:
        cut = 1 - on["fetches_per_refresh"] / off["fetches_per_refresh"]
        print(f"backend fetches per refresh: {cut:.1%} fewer with optimisations on (target >= 90%)")
    print(
        f"refresh latency on: p50 {on['p50_ms']:.1f} ms, p99 {on['p99_ms']:.1f} ms over all "
        f"{on['refreshes'] - args.viewers} warm refreshes (target p99 < 50 ms); cold (first "
        f"refresh of every viewer, empty cache): p50 {on['cold_p50_ms']:.1f} ms"
    )
    if off is not None:
        print(f"refresh latency off: p50 {off['p50_ms']:.1f} ms, p99 {off['p99_ms']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7, help="history of the dashboard's metrics")
    parser.add_argument(
        "--other-days", type=int, default=1, help="history of the metrics no widget reads"
    )
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument(
        "--seconds-on", type=float, default=40.0, help="warm refreshing time with optimisations"
    )
    parser.add_argument("--viewers-off", type=int, default=2)
    parser.add_argument("--refreshes-off", type=int, default=1)
    parser.add_argument(
        "--offload", action=argparse.BooleanOptionalAction, default=False, help="offload_reads"
    )
    parser.add_argument(
        "--freshness-ms",
        type=int,
        default=60_000,
        help="TTL of open buckets: the safety net behind live invalidation (see module doc)",
    )
    parser.add_argument(
        "--gc-freeze",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="freeze the start-up heap and raise GC thresholds, as the worker does",
    )
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()

    plan = LoadPlan(
        args.metrics, args.keys, args.days, min(WIDGET_METRICS, args.metrics), args.other_days
    )
    workdir = Path(tempfile.mkdtemp(prefix="dn-bench-", dir=args.dir))
    try:
        store = open_store(workdir / "agg", retention_ms=(args.days + 1) * DAY)
        print(f"loading {plan.windows:,} 1-min windows: {plan.describe()}")
        started = time.perf_counter()
        windows = load(store, plan, wall_clock_ms(), workdir / "sst")
        load_s = time.perf_counter() - started
        print(f"loaded {windows:,} windows in {load_s:.1f} s ({windows / load_s:,.0f}/s)")
        catalog = MetricCatalog(
            MetricSpec(
                f"m{m}", MIN, DIMENSIONS, ("clicks", "amount"), freshness_ms=args.freshness_ms
            )
            for m in range(args.metrics)
        )
        board = dashboard(args.metrics)
        on_config = EngineConfig(offload_reads=args.offload)
        print(
            f"dashboard: {len(board.widgets)} widgets over m0..m{WIDGET_METRICS - 1}; a writer "
            f"updates the current minute of all {args.keys:,} keys of each every "
            f"{WRITE_EVERY_S * 1000:.0f} ms; "
            f"open-bucket freshness {args.freshness_ms} ms\n"
            f"on:  {args.viewers} concurrent viewers, 1 cold refresh each, then refreshing for "
            f"{args.seconds_on:.0f} s; EngineConfig(offload_reads={args.offload}, "
            f"refresh_ahead={on_config.refresh_ahead})\n"
            f"off: {args.viewers_off} concurrent viewers x {args.refreshes_off} refresh "
            "(capped: without the cache every refresh re-reads every widget's whole range, "
            "so every refresh costs the same fetches; its latency is with fewer viewers, "
            "which flatters off)"
        )
        results: dict[str, dict[str, Any]] = {}
        if args.viewers_off > 0:  # 0: skip the slow baseline (for profiling the engine)
            results["off"] = asyncio.run(
                run_mode(
                    store,
                    catalog,
                    EngineConfig.unoptimised(),
                    board,
                    args,
                    args.viewers_off,
                    args.refreshes_off,
                )
            )
        results["on"] = asyncio.run(
            run_mode(store, catalog, on_config, board, args, args.viewers, 0, args.seconds_on)
        )
        _report(results, args)
        store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
