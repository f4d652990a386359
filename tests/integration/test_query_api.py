"""The query API through real workers: window output topics -> aggregate store -> HTTP answers.

One worker serves the module (started once); the last test adds a second worker of the same app
and checks that a query on either one reaches the partitions the other holds. The first test goes
all the way (HTTP ingest -> window agent -> store feed -> query); the others produce window
results to ``datanexus.windows.<name>`` themselves, in the windows agent's record format, to
control revisions and partitions.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from agents.group_consumer import next_offsets
from agents.query.store_feed import store_group
from app.testing import WorkerProcess, committed_offsets, read_topic

pytestmark = pytest.mark.integration

MIN = 60_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z: long closed, so cached blocks are immutable
DAY = 24 * 60 * MIN
T1 = T0 + DAY  # ingested events: every window pipeline reads the ingest topic, so they get its
# windows too; a separate day keeps them apart from the window results the other tests produce
SOURCES = ("web", "ios", "api")


def spec(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "tumbling",
        "size": "1m",
        "grace": "10m",  # ingest keeps no event-time order across partitions: nothing is late
        "group_by": ["source"],
        "aggregate": {"amount": ["sum", "count", "mean"], "*": ["count"]},
    }


def window(name: str, source: str, minute: int, amount: float, revision: int = 0) -> dict[str, Any]:
    count = minute % 3 + 1
    return {
        "name": name,
        "key": [source],
        "group_key": json.dumps([source]),
        "group": {"source": source},
        "start": T0 + minute * MIN,
        "end": T0 + (minute + 1) * MIN,
        "aggregates": {
            "amount.sum": amount,
            "amount.count": count,
            "amount.mean": amount / count,
            "*.count": count,
        },
        "fields": {},
        "final": True,
        "revision": revision,
        "kind": "tumbling",
    }


def amount(source: str, minute: int) -> float:
    return float(SOURCES.index(source) * 100 + minute)


def produce(bootstrap: str, records: list[dict[str, Any]], partition: int = -1) -> None:
    """-1: the producer's partitioner picks the partition."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for item in records:
        key = f"{item['name']}/{item['group_key']}".encode()
        topic = f"datanexus.windows.{item['name']}"
        producer.produce(topic, orjson.dumps(item), key, partition=partition)
    assert producer.flush(15) == 0


def wait_for(check: Callable[[], Any], timeout_s: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: last={last!r}")


def query(metric: str, **extra: Any) -> dict[str, Any]:
    return {
        "metric": metric,
        "from": T0,
        "to": T0 + 10 * MIN,
        "step": "5m",
        "aggregate": "amount.sum",
        "group_by": ["source"],
        **extra,
    }


def expected_sums(minutes: range) -> list[dict[str, Any]]:
    series = []
    for source in sorted(SOURCES):
        points = []
        for bucket in range(minutes.start - minutes.start % 5, minutes.stop, 5):
            inside = [m for m in minutes if bucket <= m < bucket + 5]
            points.append([T0 + bucket * MIN, sum(amount(source, m) for m in inside)])
        series.append({"key": {"source": source}, "points": points})
    return series


class Cluster:
    def __init__(self, first: WorkerProcess, metrics: list[str]) -> None:
        self.first = first
        self.metrics = metrics


@pytest.fixture(scope="module")
def cluster(
    kafka_bootstrap: str,
    embedded_broker_in_use: bool,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    tag = uuid.uuid4().hex[:8]
    metrics = [f"spend{tag}", f"spread{tag}", f"clicks{tag}"]
    env = {
        "DATANEXUS_WINDOWS": json.dumps([spec(m) for m in metrics]),
        "DATANEXUS_REDIS_URL": redis_url,
        "DATANEXUS_TOPIC_RAW": f"q{tag}.raw",
        "DATANEXUS_TOPIC_ACCEPTED": f"q{tag}.accepted",
        "DATANEXUS_TOPIC_DLQ": f"q{tag}.dlq",
    }
    worker = WorkerProcess(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path_factory.mktemp("query-w0"),
        env=env,
        embedded=embedded_broker_in_use,
    )
    worker.start()
    try:
        yield Cluster(worker, metrics)
    finally:
        worker.stop()


def test_ingested_records_close_windows_and_the_query_answers_them(cluster: Cluster) -> None:
    worker, metric = cluster.first, cluster.metrics[2]
    records = [
        {
            "id": f"{metric}-{source}-{minute}-{n}",
            "source": source,
            "event_time": T1 + minute * MIN + n * 1000,
            "payload": {"amount": amount(source, minute)},
        }
        for minute in range(10)
        for source in SOURCES
        for n in range(2)
    ]
    status, body = worker.post_json("/v1/ingest", records)
    assert status == 202, body
    wait_for(  # the ingest topic has no event-time order: a closer sent now could overtake them
        lambda: (
            worker.metric("datanexus_window_records_total", stage="window", window=metric)
            == len(records)
        ),
        what="the window agent to take every record",
    )
    # watermarks are per partition (of the group-keyed repartition topic): one late event per
    # source moves every partition's watermark past minute 10, closing the windows before it
    closers = [
        {"id": f"{metric}-{s}-closer", "source": s, "event_time": T1 + 30 * MIN} for s in SOURCES
    ]
    status, body = worker.post_json("/v1/ingest", closers)
    assert status == 202, body
    expected = [
        {
            "key": {"source": s["key"]["source"]},
            "points": [[ts - T0 + T1, 2 * value] for ts, value in s["points"]],
        }
        for s in expected_sums(range(10))
    ]

    e2e_query = query(metric, **{"from": T1, "to": T1 + 10 * MIN})

    def answered() -> Any:
        status, body = worker.post_json("/v1/query", e2e_query)
        assert status == 200, body
        return body if body["series"] == expected else None

    wait_for(answered, timeout_s=30, what="windows closed and stored")
    counting = {**e2e_query, "aggregate": "*.count", "group_by": []}
    status, counts = worker.post_json("/v1/query", counting)
    assert status == 200 and counts["series"][0]["points"] == [[T1, 30.0], [T1 + 5 * MIN, 30.0]]


def test_closed_windows_answer_the_right_series(cluster: Cluster, kafka_bootstrap: str) -> None:
    worker, metric = cluster.first, cluster.metrics[0]
    topic = f"datanexus.windows.{metric}"
    skipped_before = worker.metric("datanexus_query_store_records_total", result="skipped")
    garbage = Producer({"bootstrap.servers": kafka_bootstrap})
    garbage.produce(topic, b"{not json", b"garbage")
    garbage.produce(topic, orjson.dumps(window("unconfigured", "web", 0, 1.0)), b"garbage")
    assert garbage.flush(15) == 0
    produce(
        kafka_bootstrap, [window(metric, s, m, amount(s, m)) for s in SOURCES for m in range(10)]
    )

    def answered() -> Any:
        status, body = worker.post_json("/v1/query", query(metric))
        assert status == 200, body
        return body if body["series"] == expected_sums(range(10)) else None

    body = wait_for(answered, what="all windows stored")
    assert (body["from"], body["to"], body["step"]) == (T0, T0 + 10 * MIN, 5 * MIN)

    status, mean = worker.post_json(
        "/v1/query",
        query(metric, aggregate="amount.mean", group_by=[], filters={"source": "ios"}),
    )
    assert status == 200, mean
    counts = {m: m % 3 + 1 for m in range(10)}
    want = [
        [
            T0 + b * MIN,
            sum(amount("ios", m) for m in range(b, b + 5))
            / sum(counts[m] for m in range(b, b + 5)),
        ]
        for b in (0, 5)
    ]
    assert mean["series"] == [{"key": {}, "points": want}]

    status, stats = worker.get("/v1/query/stats")
    assert status == 200 and stats["queries"] >= 2 and stats["backend_fetches"] >= 1
    assert set(cluster.metrics) <= set(stats["metrics"])
    assert worker.metric("datanexus_query_queries_total") >= 2

    # records that are no window result are skipped and counted, and the feed commits past them
    wait_for(
        lambda: (
            worker.metric("datanexus_query_store_records_total", result="skipped")
            == skipped_before + 2
        ),
        what="both malformed records to be counted as skipped",
    )
    ends = {
        tp.partition: tp.offset
        for tp in next_offsets(read_topic(kafka_bootstrap, topic, expect=32))
    }
    wait_for(
        lambda: committed_offsets(kafka_bootstrap, store_group(worker.app_id), topic) == ends,
        what=f"the aggregate store feed to commit {ends}",
    )


def test_window_update_for_a_cached_range_is_visible_in_the_next_query(
    cluster: Cluster, kafka_bootstrap: str
) -> None:
    worker, metric = cluster.first, cluster.metrics[0]
    body = query(metric)
    assert worker.post_json("/v1/query", body)[1]["series"] == expected_sums(range(10))
    _, before = worker.get("/v1/query/stats")
    status, again = worker.post_json("/v1/query", body)
    _, cached = worker.get("/v1/query/stats")
    assert status == 200 and again["series"] == expected_sums(range(10))
    assert cached["cache_hits"] > before["cache_hits"]  # the range is served from the cache
    assert cached["backend_fetches"] == before["backend_fetches"]

    produce(kafka_bootstrap, [window(metric, "web", 3, 1000.0, revision=1)])
    wait_for(
        lambda: worker.get("/v1/query/stats")[1]["invalidations"] > cached["invalidations"],
        what="the update to be stored and invalidated",
    )
    status, updated = worker.post_json("/v1/query", body)  # the very next query
    assert status == 200
    web = next(s for s in updated["series"] if s["key"] == {"source": "web"})
    assert web["points"][0] == [T0, sum(amount("web", m) for m in range(5)) - 3.0 + 1000.0]


def test_batch_and_viewer_token(cluster: Cluster) -> None:
    worker, metric = cluster.first, cluster.metrics[0]
    batch = {"queries": [query(metric), query("nope"), query(metric, step="7s")]}
    status, body = worker.post_json("/v1/query/batch", batch)
    assert status == 200, body
    ok, unknown, bad_step = body["results"]
    assert ok["metric"] == metric and ok["series"]
    assert unknown["status"] == 404 and unknown["error"] == "unknown_metric"
    assert bad_step["status"] == 400
    status, issued = worker.post_json("/v1/tokens", {"name": "dash", "role": "viewer"})
    assert status == 201, issued
    status, answer = worker.post_json("/v1/query", query(metric), token=issued["token"])
    assert status == 200, answer
    assert worker.post_json("/v1/query", query(metric), token=None)[0] == 401


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"metric": "no_such_metric"}, 404, "unknown_metric"),
        ({"from": T0 + 10 * MIN, "to": T0}, 400, "invalid_query"),
        ({"step": "90s"}, 400, "invalid_query"),
        ({"aggregate": "amount.median"}, 400, "invalid_query"),
        ({"group_by": ["country"]}, 400, "invalid_query"),
        ({"from": 0, "step": "1m"}, 413, "result_too_large"),
    ],
)
def test_query_errors_are_json_4xx(
    cluster: Cluster, change: dict[str, Any], status: int, code: str
) -> None:
    answer_status, body = cluster.first.post_json(
        "/v1/query", {**query(cluster.metrics[0]), **change}
    )
    assert (answer_status, body["status"], body["error"]) == (status, status, code), body
    assert body["message"]


def test_malformed_bodies_are_400(cluster: Cluster) -> None:
    worker = cluster.first
    assert worker.post_json("/v1/query", b"{not json")[0] == 400
    status, body = worker.post_json("/v1/query/batch", {"queries": "x"})
    assert status == 400 and body["status"] == 400


def test_dashboards_put_get_data_and_survive_a_restart(cluster: Cluster) -> None:
    worker, metric = cluster.first, cluster.metrics[0]
    dashboard = {
        "title": "Spend",
        "widgets": [
            {"id": "by-source", "query": query(metric)},
            {"id": "total", "query": query(metric, group_by=[], aggregate="*.count")},
        ],
    }
    status, saved = worker.request(
        "PUT",
        "/v1/dashboards/spend",
        json.dumps(dashboard).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, saved
    assert saved["id"] == "spend" and [w["id"] for w in saved["widgets"]] == ["by-source", "total"]
    bad = {"widgets": [{"query": query("no_such_metric")}]}
    status, error = worker.request("PUT", "/v1/dashboards/bad", json.dumps(bad).encode())
    assert status == 404 and error["error"] == "unknown_metric"
    assert worker.get("/v1/dashboards/bad")[0] == 404
    assert worker.get("/v1/dashboards/bad/data")[0] == 404

    status, data = worker.get("/v1/dashboards/spend/data")
    assert status == 200, data
    by_source, total = data["widgets"]
    assert by_source["result"]["series"][0]["key"] == {"source": "api"}
    assert total["result"]["series"][0]["points"][0][1] == 3 * sum(m % 3 + 1 for m in range(5))

    worker.stop()
    worker.start()
    status, loaded = worker.get("/v1/dashboards/spend")
    assert status == 200 and loaded == saved
    status, data = worker.get("/v1/dashboards/spend/data")
    assert status == 200 and data["widgets"][1] == total  # the store survived the restart too


def test_second_worker_query_reaches_partitions_held_elsewhere(
    cluster: Cluster, kafka_bootstrap: str, embedded_broker_in_use: bool, tmp_path: Any
) -> None:
    first, metric = cluster.first, cluster.metrics[1]
    second = WorkerProcess(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path / "w1",
        env=first.env,
        embedded=embedded_broker_in_use,
        app_id=first.app_id,
        token=first.token,
    )
    second.start()
    try:
        topic = f"datanexus.windows.{metric}"

        def held(worker: WorkerProcess) -> tuple[list[str], list[int]] | None:
            try:  # a worker answers 503 (or waits) until its token table is loaded
                status, stats = worker.get("/v1/query/stats", timeout_s=5)
            except OSError:
                return None
            if status != 200:
                return None
            return stats["peers"], stats["partitions"].get(topic, [])

        def split() -> bool:
            mine, theirs = held(first), held(second)
            return (
                mine is not None
                and theirs is not None
                and (mine[0], theirs[0]) == ([second.url], [first.url])
                and bool(mine[1])
                and bool(theirs[1])
                and sorted(mine[1] + theirs[1]) == [0, 1, 2, 3]
            )

        wait_for(split, timeout_s=90, what="both workers to hold partitions of the topic")
        records = [window(metric, s, m, amount(s, m)) for s in SOURCES for m in range(10)]
        windows = {"metric": metric, "from": T0, "to": T0 + 10 * MIN}

        def local_count(worker: WorkerProcess) -> int:
            status, rows = worker.post_json("/v1/query/windows", windows)
            assert status == 200, rows
            return len(rows)

        def both_hold_data() -> bool:
            # A rebalance still settling may hand all partitions to one worker for a moment; the
            # windows it stores then stay there (and are still found: every worker is asked).
            # Re-producing the same windows is an upsert, so the expected answer is unchanged.
            for partition in range(4):
                produce(kafka_bootstrap, records[partition::4], partition=partition)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if local_count(first) and local_count(second):
                    return True
                time.sleep(0.2)
            return False

        wait_for(both_hold_data, timeout_s=60, what="both workers to store windows")
        wait_for(
            lambda: local_count(first) + local_count(second) >= len(records),
            what="every window stored",
        )
        assert local_count(first) < len(records) or local_count(second) < len(records)
        for worker in (first, second):
            status, body = worker.post_json("/v1/query", query(metric))
            assert status == 200, body
            assert body["series"] == expected_sums(range(10))
    finally:
        second.stop()
