"""The query runtime of a worker: aggregate store, its feed, retention, invalidation.

The feed (:mod:`agents.query.store_feed`) consumes ``datanexus.windows.<name>`` of every window
pipeline (``DATANEXUS_WINDOWS``, the specs the window agents run; each is a metric of the catalog)
and hands each batch to ``engine.record_windows``: one RocksDB write batch, then one invalidation
per touched metric, in-process and (with Redis) on every other instance.

Also installs the retention timer and, when Redis is configured, the invalidation subscriber.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from agents.query.catalog import catalog_from_specs
from agents.query.cluster import PeerClient, peer_urls_from_assignment
from agents.query.runtime import QueryRuntime
from agents.query.store_feed import AggregateStoreFeed, store_group
from agents.windows.config import pipelines_from_settings
from app import broker_profile
from app.services import Services
from app.settings import Settings
from app.topics import ensure_topics
from tables.query.engine import EngineConfig, wall_clock_ms

log = logging.getLogger(__name__)


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
    feed = AggregateStoreFeed(
        [w.output_topic for w in windows],
        catalog,
        lambda records: runtime.engine.record_windows(records),
        bootstrap=settings.kafka_bootstrap,
        group_id=store_group(settings.app_id),
        consumer_config=broker_profile.consumer_config(settings),
        batch_size=settings.agent_batch_size,
    )
    runtime.owned = feed.owned

    @app.task  # type: ignore[untyped-decorator]
    async def feed_aggregate_store() -> None:
        await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: ensure_topics(
                settings.kafka_bootstrap,
                feed.topics,
                settings.partitions,
                settings.replication_factor,
            ),
        )
        await feed.run()

    return runtime
