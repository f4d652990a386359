"""Window benchmark: records/s of the window engine alone (in-process, dict store, no Kafka) for
tumbling, sliding and session windows on one set of generated events.

    python bench/windows.py [--events 300000] [--keys 1000] [--batch 1000]

Then, unless ``--engine-only``, the same events go to the embedded broker and are read by the bare
Faust agent (F, bench/bare_agent.py), the windowed worker (W; :func:`windowed_worker_rate`; F and
W alternate ``--repeat`` times) and Quix Streams tumbling/hopping counts in a venv of their own
(Q), as ratios.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tables.windows import Event, WindowStateManager, parse_window_spec  # noqa: E402

ENGINE_CASES: dict[str, dict[str, Any]] = {
    "tumbling_count": {"type": "tumbling", "size": "10s", "aggregate": {"*": ["count"]}},
    "sliding_count": {
        "type": "sliding",
        "size": "10s",
        "step": "2s",
        "aggregate": {"*": ["count"]},
    },
    "session_count": {"type": "session", "gap": "1s", "aggregate": {"*": ["count"]}},
    "tumbling_multi": {
        "type": "tumbling",
        "size": "10s",
        "aggregate": {"*": ["count"], "amount": ["sum", "min", "max", "mean", "last"]},
    },
}


def generate_events(count: int, keys: int, seed: int = 42) -> list[tuple[int, bytes]]:
    """(timestamp ms, JSON payload) pairs: ~1000 events/s of event time, up to 2 s out of order;
    the same list feeds every part of the benchmark."""
    rng = random.Random(seed)
    # recent (the broker keeps them under retention), aligned to the hour so runs in the same
    # hour close the same windows
    base_ts = int(time.time() * 1000) // 3_600_000 * 3_600_000 - count
    events = []
    for i in range(count):
        ts = base_ts + i + rng.randint(-2000, 0)
        payload = {"source": f"s{rng.randrange(keys)}", "amount": rng.randint(1, 100), "seq": i}
        events.append((ts, orjson.dumps(payload)))
    return events


def _batches(events: list[Event], size: int) -> Iterator[list[Event]]:
    for i in range(0, len(events), size):
        yield events[i : i + size]


def bench_engine(case: str, events: list[Event], batch: int) -> dict[str, Any]:
    raw = {
        "name": case,
        "group_by": ["source"],
        "grace": "1s",
        "max_out_of_orderness": "2s",
        **ENGINE_CASES[case],
    }
    manager = WindowStateManager(parse_window_spec(raw), {})
    closed = late = writes = 0
    gc.collect()
    started = time.perf_counter()
    for chunk in _batches(events, batch):
        result = manager.process_batch(0, chunk)
        closed += len(result.closed)
        late += result.dropped + len(result.late)
        writes += result.store_writes
    elapsed = time.perf_counter() - started
    return {
        "case": case,
        "records_per_s": len(events) / elapsed,
        "closed": closed,
        "late": late,
        "writes_per_record": writes / len(events),
    }


def run_engine_alone(raw_events: list[tuple[int, bytes]], batch: int) -> list[dict[str, Any]]:
    started = time.perf_counter()
    events = [Event(ts, orjson.loads(payload)) for ts, payload in raw_events]
    decode_rate = len(events) / (time.perf_counter() - started)
    print(f"engine alone (in-process, dict store, batches of {batch}, JSON decode excluded;")
    print(f"  decoding the JSON payloads alone runs at {decode_rate:,.0f} records/s)")
    results = []
    for case in ENGINE_CASES:
        row = bench_engine(case, events, batch)
        results.append(row)
        print(
            f"  {case:<16} {row['records_per_s']:>12,.0f} records/s"
            f"   closed windows {row['closed']:>7,}   late {row['late']:,}"
            f"   store writes/record {row['writes_per_record']:.2f}"
        )
    return results


# ---------------------------------------------------------------------------------------------
# Broker comparisons: the same events on the embedded broker, read by (F) the bare Faust agent,
# (W) the windowed worker and (Q) Quix Streams (tumbling and hopping counts, own venv).
# ---------------------------------------------------------------------------------------------
QUIX_VERSION = "3.28.1"
QUIX_VENV = Path(os.environ.get("DATANEXUS_QUIX_VENV", ROOT / "var" / "venv-quix"))
BROKER_PARTITIONS = 4
SIZE_MS, STEP_MS, GRACE_MS = 10_000, 2_000, 1_000


def windowed_worker_rate(
    bootstrap: str, topic: str, expected: int, data_dir: Path, repartition: bool = False
) -> float:
    """Records/s of a DataNexus worker running the ``tumbling_count`` spec as a window pipeline
    on ``topic`` (JSON payloads keyed by source, Kafka timestamps as event time). Without
    ``repartition`` the topic's keying already keeps each source in one partition; with it,
    every record goes through ``datanexus.windows.<name>.by-key`` first."""
    from app.testing import WorkerProcess, unique_topics

    wait_count = importlib.import_module("bench.ingest").wait_count
    name = f"bench{uuid.uuid4().hex[:6]}"
    spec = {
        "name": name,
        "group_by": ["source"],
        "grace": "1s",
        "max_out_of_orderness": "2s",
        **ENGINE_CASES["tumbling_count"],
        "topic": topic,
        "format": "json",
        "event_time": "kafka",
        "repartition": repartition,
    }
    env = {**unique_topics("benchw"), "DATANEXUS_WINDOWS": orjson.dumps([spec]).decode()}
    worker = WorkerProcess(bootstrap=bootstrap, data_dir=data_dir / name, env=env)
    worker.start()
    try:

        def windowed() -> int:
            return int(worker.metric("datanexus_window_records_total", stage="window"))

        rate: float = wait_count(windowed, expected)
        return rate
    finally:
        worker.stop()


def quix_python() -> Path:
    """The Quix venv's interpreter, created on first use (Quix pins an older confluent-kafka)."""
    python = QUIX_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {QUIX_VENV} with quixstreams=={QUIX_VERSION} ...")
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"quixstreams=={QUIX_VERSION}"], check=True
        )
    return python


def create_topic(bootstrap: str, name: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    # Quix reads retention.* of its input topic; this broker describes only explicit configs
    config = {"retention.ms": "604800000", "retention.bytes": "-1"}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, num_partitions=BROKER_PARTITIONS, replication_factor=1, config=config)
    for future in admin.create_topics([topic]).values():
        future.result(30)


def produce_events(bootstrap: str, topic: str, raw_events: list[tuple[int, bytes]]) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 10000}
    )
    for ts, payload in raw_events:
        key = orjson.loads(payload)["source"].encode()
        while True:
            try:
                producer.produce(topic, payload, key, timestamp=ts)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)


def quix_rate(bootstrap: str, topic: str, expected: int, mode: str) -> dict[str, Any]:
    command = [
        str(quix_python()),
        str(ROOT / "bench" / "windows_quix.py"),
        bootstrap,
        topic,
        str(expected),
        mode,
        str(SIZE_MS),
        str(STEP_MS),
        str(GRACE_MS),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"quix {mode} failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = orjson.loads(lines[-1])
    return result


def run_broker_comparisons(raw_events: list[tuple[int, bytes]], args: argparse.Namespace) -> None:
    from app.dev_broker import EmbeddedBroker

    # bench/ingest.py is a script of the lead's; its F harness is reused as is
    bare_agent_rate = importlib.import_module("bench.ingest").bare_agent_rate

    expected = len(raw_events)
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        bootstrap = broker.bootstrap
        topic = f"bench-windows-{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic)
        produce_events(bootstrap, topic, raw_events)
        print(f"through the broker ({BROKER_PARTITIONS} partitions, {expected:,} records):")
        # F and W alternate (F W F W ...): this 2-core machine drifts by 10% between runs, and
        # a ratio of two runs far apart would measure the drift
        bares: list[float] = []
        workers: list[float] = []
        for _ in range(args.repeat):
            bares.append(bare_agent_rate(bootstrap, topic, expected, Path(tmp)))
            workers.append(windowed_worker_rate(bootstrap, topic, expected, Path(tmp)))
        stock = bare_agent_rate(bootstrap, topic, expected, Path(tmp), stock_drain=True)
        bare, worker = sum(bares) / len(bares), sum(workers) / len(workers)
        runs = f"runs {', '.join(f'{b:,.0f}' for b in bares)}"
        print(f"  F  bare Faust agent          {bare:>12,.0f} records/s   ({runs}; our hand-over)")
        print(
            f"  Fs same, faust's hand-over   {stock:>12,.0f} records/s"
            f"   F/Fs {bare / stock:.2f}   (app/faust_handover.py)"
        )
        pairs = ", ".join(f"{w / b:.2f}" for w, b in zip(workers, bares, strict=True))
        print(
            f"  W  windowed worker           {worker:>12,.0f} records/s"
            f"   W/F {worker / bare:.2f}   W/Fs {worker / stock:.2f}"
            f"   (W/F per run {pairs}; topic keyed by source: no repartition)"
        )
        if not args.no_repartition:
            rep = windowed_worker_rate(bootstrap, topic, expected, Path(tmp), repartition=True)
            print(
                f"  WR windowed worker, by-key  {rep:>12,.0f} records/s"
                f"   WR/F {rep / bare:.2f}   (through the repartition topic)"
            )
        for mode in ("tumbling", "sliding"):
            quix = quix_rate(bootstrap, topic, expected, mode)
            rate = quix["records_per_s"]
            line = f"  Q  Quix Streams {mode:<10}  {rate:>12,.0f} records/s   Q/F {rate / bare:.2f}"
            line += f"   W/Q {worker / rate:.2f}"
            print(line + f"   (closed windows {quix['closed']:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--engine-only", action="store_true")
    parser.add_argument("--no-repartition", action="store_true", help="skip the WR figure")
    parser.add_argument("--repeat", type=int, default=2, help="F and W runs, alternating")
    args = parser.parse_args()
    raw_events = generate_events(args.events, args.keys)
    print(f"{len(raw_events):,} events, {args.keys} group keys")
    run_engine_alone(raw_events, args.batch)
    if not args.engine_only:
        run_broker_comparisons(raw_events, args)


if __name__ == "__main__":
    main()
