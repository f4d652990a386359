"""Ingest throughput, every figure from one run on the same embedded broker.

A  raw confluent-kafka producer, records/s
B  raw confluent-kafka consume -> produce passthrough, records/s
F  a bare Faust agent that only iterates the topic (Faust's per-event ceiling), records/s
Fi the same beside idle partitions, on our hand-over and on faust's (see app/faust_handover.py)
H  HTTP batch ingest (POST /v1/ingest, JSON arrays of 1,000 records, 8 concurrent clients;
   at least 1M records, as A): H/A
K  the Kafka-native agent path raw -> accepted/dlq: K/F and K/B

Targets: H/A >= 0.25, K/F >= 0.8. Usage: python bench/ingest.py [--records N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.dev_broker import EmbeddedBroker, die_with_parent, free_port  # noqa: E402
from app.sample_data import clickstream  # noqa: E402
from app.testing import WorkerProcess, read_topic, unique_topics  # noqa: E402
from app.topics import ensure_topics  # noqa: E402

PARTITIONS = 4
IDLE_PARTITIONS = 12  # a worker's control topics: pipeline commands (4), connector tasks (8)
A_MIN_RECORDS = 1_000_000
# H runs at a few hundred thousand records/s too: 100k records took 0.4 s, mostly the clients'
# ramp-up, and H/A swung 0.24-0.32 between runs; a run of 1M lasts several seconds.
H_MIN_RECORDS = 1_000_000


def produce_all(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> float:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "acks": "all",
            "batch.num.messages": 10000,
            "partitioner": "murmur2_random",
        }
    )
    started = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)
    return len(records) / (time.perf_counter() - started)


def passthrough(bootstrap: str, source: str, target: str, expected: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"b-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 52428800,
        }
    )
    consumer.assign([TopicPartition(source, p, 0) for p in range(PARTITIONS)])
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all", "batch.num.messages": 10000}
    )
    seen = 0
    started = None
    deadline = time.monotonic() + 120
    while seen < expected and time.monotonic() < deadline:
        for message in consumer.consume(5000, timeout=0.5):
            if message.error():
                continue
            if started is None:
                started = time.perf_counter()
            while True:
                try:
                    producer.produce(target, message.value(), message.key())
                    break
                except BufferError:
                    producer.poll(0.01)
            seen += 1
        producer.poll(0)
    producer.flush(60)
    consumer.close()
    assert started is not None and seen >= expected, f"passthrough saw {seen}/{expected}"
    return seen / (time.perf_counter() - started)


def wait_count(fetch, expected: int, timeout_s: float = 300, interval_s: float = 0.25) -> float:  # type: ignore[no-untyped-def]
    """Polls a processed-records counter; rate from the first record seen to the last.

    The poll is slow on purpose: rendering ``/metrics`` costs the worker CPU (every series of every
    collector, in its web thread), and a 50 Hz scrape took a measurable share of the path being
    measured. 4 Hz over a run of several seconds keeps the timing error near 1-2%.
    """
    first = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        count = fetch()
        now = time.perf_counter()
        if count and first is None:
            first = (now, count)
        if count >= expected:
            assert first is not None
            return (count - first[1]) / max(now - first[0], 1e-9)
        time.sleep(interval_s)
    raise TimeoutError(f"only {fetch()} of {expected} processed")


def bare_agent_rate(
    bootstrap: str,
    topic: str,
    expected: int,
    data_dir: Path,
    stock_drain: bool = False,
    idle_topic: str | None = None,
) -> float:
    """F: the bare agent's records/s; ``stock_drain`` runs it on faust's own hand-over,
    ``idle_topic`` gives the worker a second agent on a topic that stays empty."""
    port = free_port()
    env = {
        **os.environ,
        **({"BENCH_STOCK_DRAIN": "1"} if stock_drain else {}),
        **({"BENCH_IDLE_TOPIC": idle_topic} if idle_topic else {}),
        "DATANEXUS_KAFKA_BOOTSTRAP": bootstrap,
        "DATANEXUS_EMBEDDED_BROKER": "1",
        "DATANEXUS_WEB_PORT": str(port),
        "DATANEXUS_DATA_DIR": str(data_dir),
        "DATANEXUS_APP_ID": f"bare{uuid.uuid4().hex[:6]}",
        "BENCH_TOPIC": topic,
        "PYTHONPATH": str(ROOT),
    }
    log = (data_dir / "bare.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "bare_agent.py"),
            "--loop",
            "uvloop",
            "worker",
            "-l",
            "warn",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    import urllib.request

    def fetch() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=2) as r:
                return int(orjson.loads(r.read())["count"])
        except OSError:
            return 0

    try:
        return wait_count(fetch, expected)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def http_rate(url: str, token: str, records: list[bytes], batch: int, clients: int) -> float:
    bodies = [
        b"[" + b",".join(records[i : i + batch]) + b"]" for i in range(0, len(records), batch)
    ]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(
                f"{url}/v1/ingest", data=body, headers={"Content-Type": "application/json"}
            ) as answer:
                assert answer.status == 202, await answer.text()
                accepted += (await answer.json())["accepted"]

    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as session:
        # warm-up request (connection, first produce) with records of its own
        warm = b"[" + b",".join(v for _, v in clickstream(100, 0, 0)) + b"]"
        async with session.post(f"{url}/v1/ingest", data=warm) as answer:
            assert answer.status == 202
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    assert accepted == len(records), (accepted, len(records))
    return accepted / elapsed


def worker_rates(bs: str, data_dir: Path, env: dict[str, str], n: int) -> tuple[float, float]:
    """HTTP and Kafka ingest rates through one DataNexus worker, on fresh ids for each path."""
    topics = unique_topics("bench")
    worker = WorkerProcess(bootstrap=bs, data_dir=data_dir, env={**topics, **env})
    worker.start()
    http_count = max(n, H_MIN_RECORDS)
    try:
        http_values = [v for _, v in clickstream(http_count, duplicate_ratio=0, malformed_ratio=0)]
        rate_h = asyncio.run(http_rate(worker.url, worker.token, http_values, 1000, 8))
        ensure_topics(bs, list(topics.values()), PARTITIONS)
        produce_all(bs, topics["DATANEXUS_TOPIC_RAW"], list(clickstream(n, 0, 0)))

        def processed() -> int:
            return int(worker.metric("datanexus_ingest_records_total", path="kafka"))

        rate_k = wait_count(processed, n)
    finally:
        worker.stop()
    expected = http_count + n
    forwarded = read_topic(bs, topics["DATANEXUS_TOPIC_ACCEPTED"], expect=expected, timeout_s=60)
    assert len(forwarded) >= expected, f"accepted topic has {len(forwarded)} of {expected}"
    return rate_h, rate_k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    n = args.records
    records = [(k, v) for k, v in clickstream(n, duplicate_ratio=0, malformed_ratio=0, seed=7)]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        bs = broker.bootstrap
        tag = uuid.uuid4().hex[:6]
        a_topic, b_topic, f_topic = f"a-{tag}", f"b-{tag}", f"f-{tag}"
        idle_topic = f"idle-{tag}"
        ensure_topics(bs, [a_topic, b_topic, f_topic], PARTITIONS)
        ensure_topics(bs, [idle_topic], IDLE_PARTITIONS)
        # A runs at several hundred thousand records/s: a run of n records lasts a fraction of a
        # second and swung 2-3x between runs, so A takes at least A_MIN_RECORDS per run.
        a_records = records * -(-A_MIN_RECORDS // n)
        rate_a = sorted(produce_all(bs, a_topic, a_records) for _ in range(3))[1]  # median of 3
        rate_b = passthrough(bs, a_topic, b_topic, 3 * len(a_records))
        produce_all(bs, f_topic, records)
        rate_f = bare_agent_rate(bs, f_topic, n, Path(tmp))
        rate_fs = bare_agent_rate(bs, f_topic, n, Path(tmp), stock_drain=True)
        rate_fi = bare_agent_rate(bs, f_topic, n, Path(tmp), idle_topic=idle_topic)
        rate_fis = bare_agent_rate(
            bs, f_topic, n, Path(tmp), stock_drain=True, idle_topic=idle_topic
        )

        dedupe_off = {"DATANEXUS_DEDUPE_CONFIG": '{"default": {"mode": "off"}}'}
        rate_h, rate_k = worker_rates(bs, Path(tmp) / "off", dedupe_off, n)
        rate_hd, rate_kd = worker_rates(bs, Path(tmp) / "exact", {}, n)

    print(f"records per run: {n:,} (clickstream JSON, ~{len(records[0][1])} bytes each)")
    print(f"A  raw producer:                 {rate_a:>10,.0f} records/s")
    print(f"B  raw consume->produce:         {rate_b:>10,.0f} records/s")
    print(f"F  bare Faust agent (uvloop):    {rate_f:>10,.0f} records/s   (our consumer hand-over)")
    print(
        f"Fs same, faust's own hand-over:  {rate_fs:>10,.0f} records/s   "
        f"F/Fs = {rate_f / rate_fs:.2f}  (app/faust_handover.py)"
    )
    print(
        f"Fi F beside {IDLE_PARTITIONS} idle partitions:  {rate_fi:>9,.0f} records/s   "
        f"Fi/F = {rate_fi / rate_f:.2f}; on faust's hand-over {rate_fis:,.0f}, "
        f"Fis/Fs = {rate_fis / rate_fs:.2f}"
    )
    print(
        f"H  HTTP batch ingest:            {rate_h:>10,.0f} records/s   H/A = {rate_h / rate_a:.2f}"
        "  (target >= 0.25)"
    )
    print(
        f"K  Kafka agent raw->accepted:    {rate_k:>10,.0f} records/s   K/F = {rate_k / rate_f:.2f}"
        f"  (target >= 0.8)   K/Fs = {rate_k / rate_fs:.2f}   K/B = {rate_k / rate_b:.3f}"
    )
    print("with exact de-duplication on (the default product path):")
    print(
        f"Hd HTTP ingest + edge dedupe:   {rate_hd:>10,.0f} records/s   "
        f"Hd/A = {rate_hd / rate_a:.2f}"
    )
    print(
        f"Kd Kafka agent + stream dedupe: {rate_kd:>10,.0f} records/s   "
        f"Kd/F = {rate_kd / rate_f:.2f}"
    )


if __name__ == "__main__":
    main()
