"""The aggregate-store agent: window output topics -> RocksDB aggregate store + cache invalidation.

Consumes ``datanexus.windows.<name>`` of every window pipeline (``DATANEXUS_WINDOWS``, the specs
the window agents run; each is a metric of the catalog) in batches
(:class:`EventBatcher`) and hands each batch to ``engine.record_windows``: one RocksDB write batch,
then one invalidation per touched metric, in-process and (with Redis) on every other instance.
Events are acked after the batch is stored; writes are upserts, so a redelivered batch is harmless.

Also installs the retention timer and, when Redis is configured, the invalidation subscriber.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust
import orjson

from agents.batching import EventBatcher
from agents.query.catalog import RecordError, catalog_from_specs, window_aggregate
from agents.query.cluster import PeerClient, owned_partitions, peer_urls_from_assignment
from agents.query.runtime import QueryRuntime
from agents.windows.config import pipelines_from_settings
from app.services import Services
from app.settings import Settings
from tables.aggstore.types import WindowAggregate
from tables.query.engine import EngineConfig, wall_clock_ms

log = logging.getLogger(__name__)

AGENT_NAME = "datanexus.query.store"


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        batch_window_ms=settings.query_batch_window_ms,
        cache_max_points=settings.query_cache_max_points,
    )


def install_query_agent(app: faust.App, settings: Settings, services: Services) -> QueryRuntime:
    windows = [pipeline.spec for pipeline in pipelines_from_settings(settings)]
    catalog = catalog_from_specs(windows, settings.query_freshness_ms)
    runtime = QueryRuntime(
        settings.data_dir / settings.app_id / "query",
        catalog,
        engine_config(settings),
        retention_ms=settings.query_retention_ms or None,
        peers=lambda: peer_urls_from_assignment(app),
        client=PeerClient(settings.query_peer_timeout_s),
        owned=lambda: owned_partitions(app, {w.output_topic for w in windows}),
    )

    @app.task  # type: ignore[untyped-decorator]
    async def start_query_runtime() -> None:
        runtime.store  # open on start, not on the first request  # noqa: B018
        redis = services.redis
        if redis is not None:
            await runtime.start_invalidation(redis)
        try:
            await asyncio.Event().wait()
        finally:
            await runtime.close()

    interval = settings.query_retention_interval_s

    @app.timer(interval)  # type: ignore[untyped-decorator]
    async def apply_query_retention() -> None:
        now = wall_clock_ms()
        deleted = await asyncio.to_thread(runtime.apply_retention, now)
        if deleted and runtime.retention_ms is not None:
            for metric in catalog.names():  # cached blocks must not outlive their windows
                runtime.engine.invalidate_local(metric, 0, now - runtime.retention_ms)
            log.info("aggregate store retention: deleted %d windows", deleted)

    if not windows:
        log.info("DATANEXUS_WINDOWS is empty: no window output is stored for queries")
        return runtime
    topic = app.topic(
        *[w.output_topic for w in windows],
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    batch_size, within = settings.agent_batch_size, settings.agent_batch_within_s

    async def store_windows(stream: faust.StreamT[bytes]) -> None:
        async def handle(events: Sequence[Any]) -> None:
            records: list[WindowAggregate] = []
            for event in events:
                try:
                    records.append(window_aggregate(orjson.loads(event.message.value), catalog))
                except (RecordError, orjson.JSONDecodeError) as exc:
                    log.warning("skipping window output record: %s", exc)
            if records:
                await runtime.engine.record_windows(records)

        await EventBatcher(stream, handle, batch_size, within).run()

    app.agent(topic, name=AGENT_NAME)(store_windows)
    return runtime
