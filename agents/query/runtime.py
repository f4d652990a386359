"""One worker's query runtime: stores opened on first use, the engine, dashboards, invalidation.

Nothing is opened when the app is built: CLI commands build the app too, and RocksDB allows one
opener per directory, so the stores open when the worker first needs them (agent start, first
request). Files: ``<state dir>/query/aggregates`` and ``<state dir>/query/dashboards``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from redis.exceptions import RedisError
from rocksdict import Options, Rdict

from agents.query.cluster import ClusterQueryEngine, PeerClient, PeerUrls
from tables.aggstore.rocks import RocksAggregateStore
from tables.query.dashboards import DashboardRepository
from tables.query.engine import EngineConfig, QueryEngine
from tables.query.invalidation import RedisInvalidationBus
from tables.query.metrics import QueryMetrics
from tables.query.models import MetricCatalog
from tables.query.types import InvalidationPublisher

log = logging.getLogger(__name__)

OwnedPartitions = Callable[[], dict[str, list[int]]]

_PROCESS_METRICS: QueryMetrics | None = None


def process_metrics() -> QueryMetrics:
    """The engine metrics on the default Prometheus registry: registered once per process."""
    global _PROCESS_METRICS
    if _PROCESS_METRICS is None:
        _PROCESS_METRICS = QueryMetrics(registry=REGISTRY)
    return _PROCESS_METRICS


class RocksKeyValueStore:
    """``KeyValueStore`` on a rocksdict database (dashboards survive restarts)."""

    def __init__(self, path: Path) -> None:
        self._db = Rdict(str(path), options=Options(raw_mode=True))

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self._db.get(key.encode())
        return value

    def set(self, key: str, value: bytes) -> None:
        self._db[key.encode()] = value

    def delete(self, key: str) -> None:
        del self._db[key.encode()]

    def list_keys(self) -> list[str]:
        keys = self._db.keys()
        return [k.decode() for k in keys if isinstance(k, bytes)]

    def close(self) -> None:
        self._db.close()


class TolerantPublisher:
    """Redis being down must not stop the store feed: other instances fall back to open-block
    TTLs (and clear their cache when their subscriber reconnects)."""

    def __init__(self, inner: InvalidationPublisher) -> None:
        self._inner = inner
        self.failures = 0

    async def publish(self, metric: str, from_ms: int, to_ms: int) -> None:
        try:
            await self._inner.publish(metric, from_ms, to_ms)
        except (RedisError, OSError) as exc:
            self.failures += 1
            log.warning("could not publish a cache invalidation to Redis: %s", exc)


class QueryRuntime:
    def __init__(
        self,
        state_dir: Path,
        catalog: MetricCatalog,
        config: EngineConfig,
        *,
        retention_ms: int | None,
        peers: PeerUrls,
        client: PeerClient,
        owned: OwnedPartitions = dict,
    ) -> None:
        self.state_dir = state_dir
        self.catalog = catalog
        self.config = config
        self.retention_ms = retention_ms
        self.peers = peers
        self.owned = owned
        """Window output partitions this worker holds (for ``GET /v1/query/stats``)."""
        self.client = client
        self.bus: RedisInvalidationBus | None = None
        self._engine: QueryEngine | None = None
        self._store: RocksAggregateStore | None = None
        self._dashboard_kv: RocksKeyValueStore | None = None
        self._dashboards: DashboardRepository | None = None

    @property
    def store(self) -> RocksAggregateStore:
        if self._store is None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._store = RocksAggregateStore(
                self.state_dir / "aggregates", retention_ms=self.retention_ms
            )
        return self._store

    @property
    def engine(self) -> QueryEngine:
        if self._engine is None:
            self._engine = ClusterQueryEngine(
                self.store,
                self.catalog,
                self.config,
                peers=self.peers,
                client=self.client,
                metrics=process_metrics(),
            )
        return self._engine

    @property
    def dashboards(self) -> DashboardRepository:
        if self._dashboards is None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._dashboard_kv = RocksKeyValueStore(self.state_dir / "dashboards")
            self._dashboards = DashboardRepository(self._dashboard_kv)
        return self._dashboards

    async def start_invalidation(self, redis: Any) -> None:
        """Share invalidations with the other instances through Redis pub/sub."""
        self.bus = RedisInvalidationBus(redis)
        self.engine.publisher = TolerantPublisher(self.bus)
        await self.bus.start(self.engine)

    def apply_retention(self, now_ms: int) -> int:
        return self.store.apply_retention(now_ms)

    async def close(self) -> None:
        if self.bus is not None:
            await self.bus.stop()
            self.bus = None
        await self.client.close()
        if self._engine is not None:
            await self._engine.close()  # background block refreshes read the store
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._dashboard_kv is not None:
            self._dashboard_kv.close()
            self._dashboard_kv = None
            self._dashboards = None
        self._engine = None
