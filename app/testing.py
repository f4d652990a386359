"""Harness for tests and benchmarks: worker processes on a real broker, and topic readers.

Shipped with the package (not under tests/) so benchmarks and every feature's integration tests
start workers the same way the product does: ``python -m app.cli worker`` with settings in the
environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from agents.tokens.service import new_token_string
from app.dev_broker import die_with_parent, free_port

ADMIN_TOKEN: Any = object()
"""Default of ``token=`` in requests: send the worker's bootstrap admin token."""


@dataclass
class WorkerProcess:
    """One ``datanexus worker`` subprocess with its own web port and state dir.

    ``token`` is the admin token the worker stores at first start (only if no token exists yet);
    requests send it unless a call passes ``token=None`` (no header) or another token.
    """

    bootstrap: str
    data_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    embedded: bool = True
    app_id: str = ""
    web_port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    token: str = ""

    def __post_init__(self) -> None:
        self.token = self.token or new_token_string()
        self.app_id = self.app_id or f"dn-test-{uuid.uuid4().hex[:8]}"
        self.web_port = self.web_port or free_port()
        self.log_path = self.log_path or self.data_dir / f"worker-{self.web_port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATANEXUS_")}
        env.update(
            {
                "DATANEXUS_APP_ID": self.app_id,
                "DATANEXUS_KAFKA_BOOTSTRAP": self.bootstrap,
                "DATANEXUS_EMBEDDED_BROKER": "1" if self.embedded else "0",
                "DATANEXUS_WEB_HOST": "127.0.0.1",
                "DATANEXUS_WEB_PORT": str(self.web_port),
                "DATANEXUS_DATA_DIR": str(self.data_dir),
                "DATANEXUS_BOOTSTRAP_ADMIN_TOKEN": self.token,
            }
        )
        env.update(self.env)
        return env

    def start(self, timeout_s: float = 90.0, loop: str = "uvloop") -> WorkerProcess:
        assert self.log_path is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "--loop", loop, "worker", "-l", "info"],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"worker exited early; log:\n{self.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                status, health = self.get("/health", timeout_s=2)
                # degraded (200) until the schema registry has read `_schemas`: wait for that too
                if status == 200 and health.get("registry", {}).get("ready", True):
                    return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready in {timeout_s}s; log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        token: str | None = ADMIN_TOKEN,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        bearer = self.token if token is ADMIN_TOKEN else token
        if bearer is not None:
            sent.setdefault("Authorization", f"Bearer {bearer}")
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as answer:
                return answer.status, _decode(answer.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())

    def get(
        self, path: str, timeout_s: float = 30.0, token: str | None = ADMIN_TOKEN
    ) -> tuple[int, Any]:
        return self.request("GET", path, timeout_s=timeout_s, token=token)

    def post_json(self, path: str, payload: Any, **kwargs: Any) -> tuple[int, Any]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return self.request("POST", path, body, headers, **kwargs)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a Prometheus sample over the series matching ``labels``."""
        _, text = self.get("/metrics")
        total = 0.0
        for line in str(text).splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            series, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total

    def stop(self, timeout_s: float = 30.0) -> None:
        self._signal(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 10)

    def _signal(self, signum: int, timeout_s: float) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    expect: int | None = None,
    timeout_s: float = 30.0,
    idle_s: float = 1.5,
    gap_rereads: int = 3,
) -> list[Message]:
    """Every record of ``topic`` from the start, in offset order per partition.

    Reads until ``expect`` records arrived (then one more idle period, to catch extras) or, without
    ``expect``, until fetches come back empty for ``idle_s``: the end offset is not trusted (the
    embedded broker answers wrong ones after multi-record batches). The embedded broker was also
    seen to skip a record now and then for a reader at the live end: a partition whose offsets
    have a gap is read again from the start (``gap_rereads`` times) and the reads are merged.
    """
    found: dict[tuple[int, int], Message] = {}
    partitions: list[int] | None = None
    for attempt in range(gap_rereads + 1):
        messages = _read_once(bootstrap, topic, partitions, expect, timeout_s, idle_s)
        for message in messages:
            found.setdefault((message.partition() or 0, message.offset() or 0), message)
        if attempt == gap_rereads:
            break
        partitions = _partitions_with_gaps(found)
        if not partitions:
            break
        expect = None
    return [found[k] for k in sorted(found)]


def _partitions_with_gaps(found: Mapping[tuple[int, int], Message]) -> list[int]:
    offsets: dict[int, list[int]] = {}
    for partition, offset in found:
        offsets.setdefault(partition, []).append(offset)
    return [p for p, seen in offsets.items() if len(seen) != max(seen) - min(seen) + 1]


def _read_once(
    bootstrap: str,
    topic: str,
    partitions: list[int] | None,
    expect: int | None,
    timeout_s: float,
    idle_s: float,
) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"dn-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        if partitions is None:
            metadata = consumer.list_topics(topic, timeout=10)
            partitions = list(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        messages: list[Message] = []
        deadline = time.monotonic() + timeout_s
        last_data = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.consume(10_000, timeout=0.2)
            batch = [m for m in batch if m.error() is None]
            if batch:
                messages.extend(batch)
                last_data = time.monotonic()
            elif time.monotonic() - last_data > idle_s and (
                expect is None or len(messages) >= expect
            ):
                break
        return messages
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The offsets ``group`` committed on ``topic``'s partitions (partitions without a commit are
    left out). Asked as a bystander: the group's members are not disturbed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        asked = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        return {tp.partition: tp.offset for tp in consumer.committed(asked, 10) if tp.offset >= 0}
    finally:
        consumer.close()


def unique_topics(prefix: str = "t") -> dict[str, str]:
    """Environment overrides that give a worker its own ingest topic names."""
    tag = f"{prefix}{uuid.uuid4().hex[:8]}"
    return {
        "DATANEXUS_TOPIC_RAW": f"{tag}.ingest.raw",
        "DATANEXUS_TOPIC_ACCEPTED": f"{tag}.ingest.accepted",
        "DATANEXUS_TOPIC_DLQ": f"{tag}.ingest.dlq",
    }


def headers_dict(message: Message) -> dict[str, bytes]:
    pairs: list[tuple[str, bytes]] = list(message.headers() or [])  # type: ignore[arg-type]
    return dict(pairs)


def iter_values(messages: list[Message]) -> Iterator[Any]:
    for m in messages:
        yield json.loads(m.value() or b"null")
