"""The DataNexus Faust application: one factory, configured from :class:`Settings`.

Features plug in here and nowhere else: each exposes an ``install_*`` function that adds its
agents and views to the app. The app owns the shared clients (:class:`Services`) and creates its
topics before the consumer subscribes.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

import faust

from agents.connect.install import install_connect
from agents.dedupe import install_dedupe
from agents.ingest.agent import install_ingest_agent
from agents.pipelines.agent import install_pipelines
from agents.query.agent import install_query_agent
from agents.windows import install_windows
from app import broker_profile, faust_handover, faust_seek
from app.dev_broker import wait_for_metadata
from app.gc_tuning import freeze_startup_heap
from app.http import json_errors
from app.metrics import AGENT_LAG
from app.services import Services
from app.settings import Settings
from app.state_dir import prepare_state_dir
from app.topics import ensure_ingest_topics
from app.web.auth import install_auth
from app.web.dedupe import install_dedupe_views
from app.web.ingest import install_ingest_views
from app.web.ops import install_ops_views
from app.web.pipelines import install_pipeline_views
from app.web.query import install_query_views
from schemas.registry import create_registry_service
from schemas.registry.web import install_registry_views

log = logging.getLogger(__name__)

VERSION = "0.1.0"
LAG_INTERVAL_S = 5.0


class DataNexusApp(faust.App):
    """A faust.App that carries its settings and shared clients."""

    settings: Settings
    services: Services

    async def on_start(self) -> None:
        await super().on_start()
        if self.settings.kafka_bootstrap:
            await asyncio.get_running_loop().run_in_executor(
                None, ensure_ingest_topics, self.settings
            )

    async def on_started(self) -> None:
        await super().on_started()
        if self.settings.gc_freeze:
            freeze_startup_heap()

    async def on_stop(self) -> None:
        await super().on_stop()
        await self.services.close()


def create_app(settings: Settings | None = None) -> DataNexusApp:
    settings = settings or Settings.from_env()
    faust_handover.install()
    faust_seek.install()
    bootstrap = settings.kafka_bootstrap or "127.0.0.1:9092"
    cluster_id = None
    if settings.embedded_broker and settings.kafka_bootstrap:
        cluster_id = wait_for_metadata(settings.kafka_bootstrap, timeout_s=10)
    state_dir = prepare_state_dir(settings, cluster_id)
    app = DataNexusApp(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        store="rocksdb://",
        datadir=str(state_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_enabled=True,
        consumer_auto_offset_reset="earliest",
        autodiscover=False,
        **broker_profile.faust_settings(settings),
    )
    app.settings = settings
    app.services = Services(settings)
    app.web.web_app.middlewares.append(json_errors)  # type: ignore[attr-defined]

    auth_health = install_auth(app, settings, app.services)
    dedupe = install_dedupe(app, settings, app.services)
    install_dedupe_views(app, dedupe)
    install_ingest_agent(app, settings, app.services, dedupe=dedupe)
    install_ingest_views(app, settings, app.services, dedupe=dedupe)
    registry = create_registry_service(
        bootstrap,
        embedded_broker=settings.embedded_broker,
        fetch_wait_ms=broker_profile.registry_fetch_wait_ms(settings),
    )
    registry_health = install_registry_views(app, registry)
    install_ops_views(
        app,
        app.services,
        VERSION,
        extra_checks={"auth": auth_health, "dedupe": dedupe.health, "registry": registry_health},
    )
    install_query_views(app, install_query_agent(app, settings, app.services))
    install_windows(app, settings, app.services)
    install_pipeline_views(app, install_pipelines(app, settings, app.services))
    if settings.connect_enabled:
        install_connect(app, settings, app.services)
    _install_lag_timer(app)
    if not settings.redis_url:
        log.warning("DATANEXUS_REDIS_URL is not set: single instance on its local RocksDB state")
    return app


def _install_lag_timer(app: faust.App) -> None:
    @app.timer(LAG_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def report_lag() -> None:
        monitor: Any = app.monitor
        ends = monitor.tp_end_offsets or {}
        reads = monitor.tp_read_offsets or {}
        for tp, end in ends.items():
            AGENT_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - reads.get(tp, -1) - 1))


@lru_cache(maxsize=1)
def get_app() -> DataNexusApp:
    return create_app()
