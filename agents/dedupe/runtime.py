"""The process's de-duplication: one config registry shared by the HTTP edge engine and the
stream stage, the Faust table holding the stream state, and the ~1 s timer that pushes the
Redis mirror's catch-up queue and reloads the shared config."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
from redis.asyncio import Redis

from agents.dedupe.changelog import ChangelogProducer, TrackedProducer
from agents.dedupe.config_sync import ConfigSync, registry_from_setting
from agents.dedupe.stream import StreamDedupe
from app.services import Services
from app.settings import Settings
from tables.dedupe import DedupeConfigRegistry, DedupeEngine, DedupeMetrics, DedupeStage
from tables.dedupe.client import dedupe_redis_client
from tables.dedupe.config import DedupeMode

log = logging.getLogger(__name__)

TABLE_NAME = "dedupe-state"
TIMER_INTERVAL_S = 1.0
PRUNE_INTERVAL_S = 300.0
_METRICS: list[DedupeMetrics] = []


def process_metrics() -> DedupeMetrics:
    """Prometheus refuses a metric name twice per registry: one instance per process."""
    if not _METRICS:
        _METRICS.append(DedupeMetrics())
    return _METRICS[0]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class DedupeRuntime:
    registry: DedupeConfigRegistry
    redis: Redis | None
    edge: DedupeEngine
    stream: StreamDedupe
    config: ConfigSync

    @property
    def active(self) -> bool:
        """False when every source is configured ``off``: ingest then takes the plain path."""
        configs = [self.registry.default, *self.registry.per_source.values()]
        return any(config.mode is not DedupeMode.OFF for config in configs)

    async def health(self) -> dict[str, Any]:
        """For /health: degraded while either engine cannot reach Redis."""
        edge, stream = self.edge.health(), self.stream.engine.health()
        return {
            "ok": True,
            "degraded": bool(edge["degraded"] or stream["degraded"]),
            "shared": self.redis is not None,
            "edge": edge,
            "stream": stream,
        }

    async def stats(self) -> dict[str, Any]:
        """Counts cover both stages (one metrics set per process); Bloom reports per stage."""
        at = now_ms()
        return {"edge": await self.edge.stats(at), "stream": await self.stream.engine.stats(at)}

    def retention_ms(self) -> int:
        """Stream entries are kept for the longest late horizon in force: exact mode then
        recognises late duplicates exactly, not only through the approximate late summary."""
        configs = [self.registry.default, *self.registry.per_source.values()]
        return max(config.late_horizon_ms for config in configs)

    async def tick(self) -> None:
        at = now_ms()
        await self.config.reload()
        # no stream lock: a catch-up flush touches no table state, and a hung Redis must not
        # hold up the ingest agent for the client timeout every second
        await self.edge.flush_catch_up(at)
        await self.stream.engine.flush_catch_up(at)


def install_dedupe(app: faust.App, settings: Settings, services: Services) -> DedupeRuntime:
    registry = registry_from_setting(settings.dedupe_config)
    redis = (
        dedupe_redis_client(settings.redis_url, settings.dedupe_redis_timeout_s)
        if settings.redis_url
        else None
    )
    prefix = settings.dedupe_key_prefix
    metrics = process_metrics()
    edge = DedupeEngine(registry, redis, stage=DedupeStage.EDGE, key_prefix=prefix, metrics=metrics)
    stream_engine = DedupeEngine(
        registry, redis, stage=DedupeStage.STREAM, key_prefix=prefix, metrics=metrics
    )
    table = app.Table(
        TABLE_NAME,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        help="stream de-duplication: key -> first-seen clock and source offset",
    )
    stream = StreamDedupe(
        stream_engine,
        table,
        ChangelogProducer.for_settings(settings),
        TrackedProducer(settings.kafka_bootstrap, partitioner="murmur2_random"),
        settings.kafka_bootstrap,
        settings.topic_accepted,
    )
    runtime = DedupeRuntime(
        registry, redis, edge, stream, ConfigSync(registry, redis, f"{prefix}:config")
    )

    @app.task  # type: ignore[untyped-decorator]
    async def load_shared_config() -> None:
        if await runtime.config.reload():
            log.info("dedupe config loaded from Redis key %s", runtime.config.key)

    @app.timer(TIMER_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def dedupe_tick() -> None:
        await runtime.tick()

    @app.timer(PRUNE_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def dedupe_prune() -> None:
        removed = await runtime.stream.prune(now_ms(), runtime.retention_ms())
        if removed:
            log.info("dedupe: forgot %d keys older than the late horizon", removed)

    return runtime
