"""Connector throughput, every figure from one run on the same embedded broker and PostgreSQL.

A  raw confluent-kafka producer writing the file's lines, records/s
S  FileStreamSource connector (file -> topic, offsets committed), records/s: S/A
C  psycopg COPY of the same rows into a fresh table, rows/s
P  JDBC-style PostgreSQL sink connector (topic -> upsert by key), rows/s: P/C

Usage: python bench/connectors.py [--records N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import psycopg
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.dev_broker import EmbeddedBroker  # noqa: E402
from app.testing import WorkerProcess  # noqa: E402

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def rows(n: int) -> list[bytes]:
    return [orjson.dumps({"id": i, "name": f"user-{i}", "score": i * 0.5}) for i in range(n)]


def raw_produce(bootstrap: str, topic: str, values: list[bytes]) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    started = time.perf_counter()
    for value in values:
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)
    return len(values) / (time.perf_counter() - started)


def steady_rate(progress: Callable[[], int], total: int, timeout_s: float = 300) -> float:
    """Records/s from the first record seen to the last: start-up (group joins, task start)
    is a one-off cost, not throughput."""
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    while time.monotonic() < deadline:
        done = progress()
        now = time.perf_counter()
        if first is None and done > 0:
            first = (now, done)
        if done >= total and first is not None:
            return (total - first[1]) / max(now - first[0], 1e-6)
        time.sleep(0.05)
    raise TimeoutError("benchmark step did not finish")


def file_source(worker: WorkerProcess, tmp: Path, values: list[bytes]) -> float:
    source = tmp / "bench.jsonl"
    source.write_bytes(b"\n".join(values) + b"\n")
    size = source.stat().st_size
    name = f"bench-fs-{uuid.uuid4().hex[:6]}"
    config = {
        "connector.class": "FileStreamSource",
        "file": str(source),
        "topic": f"bench-file-{uuid.uuid4().hex[:6]}",
        "batch.size": "5000",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    }
    status, body = worker.post_json("/connect/connectors", {"name": name, "config": config})
    assert status == 201, body

    def progress() -> int:
        offsets = worker.get(f"/connect/connectors/{name}/offsets")[1]["offsets"]
        return int(offsets[0]["offset"]["position"]) if offsets else 0

    return steady_rate(progress, size) * len(values) / size


def copy_baseline(values: list[bytes]) -> float:
    table = f"bench_copy_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION)"
        )
        decoded = [orjson.loads(v) for v in values]
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY {table} (id, name, score) FROM STDIN") as copy:
            for r in decoded:
                copy.write_row((r["id"], r["name"], r["score"]))
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP TABLE {table}")
    return len(values) / elapsed


def pg_sink(worker: WorkerProcess, values: list[bytes]) -> float:
    topic = f"bench-pg-{uuid.uuid4().hex[:6]}"
    table = topic.replace("-", "_")
    raw_produce(worker.bootstrap, topic, values)
    config = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "topics": topic,
        "connection.url": PG_URL,
        "pk.mode": "record_value",
        "pk.fields": "id",
        "batch.size": "5000",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    }
    name = f"bench-pg-{uuid.uuid4().hex[:6]}"
    status, body = worker.post_json("/connect/connectors", {"name": name, "config": config})
    assert status == 201, body
    with psycopg.connect(PG_URL, autocommit=True) as conn:

        def progress() -> int:
            exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if not exists or exists[0] is None:
                return 0
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            return int(count[0]) if count else 0

        rate = steady_rate(progress, len(values))
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    values = rows(args.records)
    with tempfile.TemporaryDirectory() as tmp_dir, EmbeddedBroker() as broker:
        tmp = Path(tmp_dir)
        worker = WorkerProcess(
            bootstrap=broker.bootstrap,
            data_dir=tmp / "worker",
            env={"DATANEXUS_CONNECT_ENABLED": "1"},
        ).start()
        try:
            a = raw_produce(broker.bootstrap, f"bench-raw-{uuid.uuid4().hex[:6]}", values)
            s = file_source(worker, tmp, values)
            c = copy_baseline(values)
            p = pg_sink(worker, values)
        finally:
            worker.stop()
    print(f"records: {args.records}")
    print(f"A raw producer        {a:>12,.0f} records/s")
    print(f"S file source         {s:>12,.0f} records/s   S/A = {s / a:.2f}")
    print(f"C psycopg COPY        {c:>12,.0f} rows/s")
    print(f"P PostgreSQL sink     {p:>12,.0f} rows/s      P/C = {p / c:.2f}")


if __name__ == "__main__":
    main()
