"""Dashboard refresh through the HTTP API of a real worker (Kafka -> store feed -> views).

Starts an embedded broker and one worker (or uses ``--bootstrap`` of a running broker), produces
minute-window results for METRICS x KEYS x HOURS to the window output topics in the windows
agent's record format, waits until the worker stored them, saves a 24-widget dashboard with
``PUT /v1/dashboards/bench`` and lets VIEWERS concurrent clients refresh it through
``GET /v1/dashboards/bench/data``. Reports refresh latency (HTTP round trip incl. JSON) and the
engine's backend fetches from ``GET /v1/query/stats``.

    python bench/dashboard_http.py [--metrics 6] [--keys 10] [--hours 24] [--viewers 10]

Scale is smaller than bench/dashboard.py: every window travels through Kafka and the store feed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from confluent_kafka import Producer

from app.dev_broker import EmbeddedBroker
from app.testing import WorkerProcess

MIN = 60_000


def spec(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "tumbling",
        "size": "1m",
        "group_by": ["region", "device"],
        "aggregate": {"clicks": ["count"], "amount": ["sum", "count", "mean"]},
    }


def windows(name: str, keys: int, hours: int, now: int) -> Iterator[dict[str, Any]]:
    first = now - now % MIN - hours * 60 * MIN
    for t in range(first, now, MIN):
        for k in range(keys):
            key = [f"r{k % 4}", f"d{k % 5}"]
            clicks = (t // MIN + k) % 40
            yield {
                "name": name,
                "key": key,
                "group_key": json.dumps(key),
                "start": t,
                "end": t + MIN,
                "aggregates": {
                    "clicks.count": clicks,
                    "amount.sum": clicks * 2.5,
                    "amount.count": clicks,
                },
                "final": t + MIN <= now,
                "revision": 0,
            }


def produce(bootstrap: str, names: list[str], keys: int, hours: int) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    sent = 0
    now = int(time.time() * 1000)
    for name in names:
        for record in windows(name, keys, hours, now):
            key = f"{name}/{record['group_key']}".encode()
            while True:
                try:
                    producer.produce(f"datanexus.windows.{name}", orjson.dumps(record), key)
                    break
                except BufferError:
                    producer.poll(0.05)
            sent += 1
    assert producer.flush(60) == 0
    return sent


def dashboard(names: list[str]) -> dict[str, Any]:
    widgets: list[dict[str, Any]] = []
    for name in names[:6]:
        base = {"metric": name, "to": "now"}
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
    return {
        "title": "bench",
        "widgets": [{"id": f"w{i}", "query": q} for i, q in enumerate(widgets)],
    }


async def stored(session: aiohttp.ClientSession, url: str, names: list[str]) -> int:
    total = 0
    for name in names:
        body = {"metric": name, "from": 0, "to": 2**53}
        async with session.post(url + "/v1/query/windows", json=body) as answer:
            total += len(await answer.json())
    return total


async def drive(url: str, token: str, names: list[str], expected: int, args: Any) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        deadline = time.monotonic() + 300
        while (have := await stored(session, url, names)) < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {have:,} of {expected:,} windows stored")
            await asyncio.sleep(0.5)
        async with session.put(url + "/v1/dashboards/bench", json=dashboard(names)) as answer:
            assert answer.status == 200, await answer.text()
        async with session.get(url + "/v1/query/stats") as answer:
            before = await answer.json()
        latencies: list[tuple[int, float]] = []

        async def viewer(round_no: int, rounds: int) -> None:
            for offset in range(rounds):
                started = time.perf_counter()
                async with session.get(url + "/v1/dashboards/bench/data") as answer:
                    body = await answer.read()
                    assert answer.status == 200, body[:300]
                latencies.append((round_no + offset, time.perf_counter() - started))

        await asyncio.gather(*(viewer(0, 1) for _ in range(args.viewers)))
        await asyncio.gather(*(viewer(1, args.refreshes - 1) for _ in range(args.viewers)))
        async with session.get(url + "/v1/query/stats") as answer:
            after = await answer.json()
    slowest = sorted(latencies, key=lambda item: -item[1])[:5]
    print("slowest (round, ms):", [(r, round(1000 * s, 1)) for r, s in slowest])
    cold = sorted(s for r, s in latencies if r == 0)
    warm = sorted(s for r, s in latencies if r > 0)
    fetches = after["backend_fetches"] - before["backend_fetches"]
    queries = after["queries"] - before["queries"]
    print(
        f"HTTP refreshes: {len(latencies)} ({args.viewers} viewers x {args.refreshes}); "
        f"cold p50 {1000 * statistics.median(cold):.1f} ms, max {1000 * cold[-1]:.1f} ms; "
        f"warm p50 {1000 * statistics.median(warm):.1f} ms, "
        f"p99 {1000 * warm[min(len(warm) - 1, int(0.99 * len(warm)))]:.1f} ms"
    )
    print(
        f"widget queries {queries:,}, backend fetches {fetches:,} "
        f"({fetches / len(latencies):.2f} per refresh vs {queries / len(latencies):.0f} "
        f"unoptimised), cache hit ratio {after['cache_hit_ratio']:.3f}, "
        f"coalesced {after['coalesced_queries'] - before['coalesced_queries']:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=6)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument(
        "--bootstrap", default="", help="a running broker instead of an embedded one"
    )
    args = parser.parse_args()
    names = [f"hb{uuid.uuid4().hex[:6]}m{m}" for m in range(args.metrics)]
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap
        if not bootstrap:
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dn-bench-http-")))
        worker = WorkerProcess(
            bootstrap=bootstrap,
            data_dir=workdir,
            embedded=not args.bootstrap,
            env={"DATANEXUS_WINDOWS": json.dumps([spec(n) for n in names])},
        )
        worker.start()
        stack.callback(worker.stop)
        started = time.perf_counter()
        sent = produce(bootstrap, names, args.keys, args.hours)
        print(f"produced {sent:,} window results in {time.perf_counter() - started:.1f} s")
        asyncio.run(drive(worker.url, worker.token, names, sent, args))
        print(f"stored and benchmarked in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
