"""Real services for integration tests: one embedded broker per session, the real Redis.

``DATANEXUS_TEST_BOOTSTRAP`` points the suite at an already running broker (Apache Kafka or a
broker started by ``datanexus broker``) instead of starting one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka.schema_registry import SchemaRegistryClient

from app.dev_broker import EmbeddedBroker
from app.testing import WorkerProcess, unique_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("DATANEXUS_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    log_path = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_path=log_path) as broker:
        yield broker.bootstrap


@pytest.fixture(scope="session")
def embedded_broker_in_use() -> bool:
    return not os.environ.get("DATANEXUS_TEST_BOOTSTRAP")


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("DATANEXUS_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"integration tests need Redis at {url} (make test starts one): {exc}")
    finally:
        client.close()
    return url


WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(
    kafka_bootstrap: str, embedded_broker_in_use: bool, tmp_path: Path
) -> Iterator[WorkerFactory]:
    """Start workers (stopped at teardown); each call may pass extra DATANEXUS_* env."""
    workers: list[WorkerProcess] = []

    def _start(env: dict[str, str] | None = None, **kwargs: Any) -> WorkerProcess:
        worker = WorkerProcess(
            bootstrap=kafka_bootstrap,
            data_dir=kwargs.pop("data_dir", tmp_path / f"w{len(workers)}"),
            env=env or {},
            embedded=embedded_broker_in_use,
            **kwargs,
        )
        workers.append(worker)
        return worker.start()

    yield _start
    for worker in workers:
        worker.stop()


@pytest.fixture
def topic_env() -> dict[str, str]:
    return unique_topics()


@pytest.fixture(scope="module")
def registry(
    kafka_bootstrap: str, embedded_broker_in_use: bool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """One DataNexus worker per module: the schema registry is served at its root paths."""
    worker = WorkerProcess(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path_factory.mktemp("registry-worker"),
        env=unique_topics("reg"),
        embedded=embedded_broker_in_use,
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def client(registry: WorkerProcess) -> SchemaRegistryClient:
    """confluent-kafka's own registry client against the module's worker."""
    return SchemaRegistryClient({"url": registry.url})
