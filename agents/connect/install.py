"""Wires the connect runtime into the Faust app: state topics, task placement, REST views.

Task placement rides on Faust's consumer group: an agent subscribes to the tasks topic (it
carries no data), and the partitions Faust assigns to this worker are the tasks it runs. So the
state topics belong to one app (``<app_id>.connect.*`` unless configured): two apps sharing them
would each run every connector's tasks, and a source's records would be written twice.

The runtime is on in every worker, so it must never take the worker down: a start that fails
(broker slow or unreachable) is retried with backoff while ingest, queries and pipelines run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust

from agents.connect.herder import Herder
from agents.connect.runner import RunnerDeps
from agents.connect.store import ConnectStore, ConnectTopics
from app import broker_profile
from app.services import Services
from app.settings import Settings
from app.web.connect import install_connect_views

log = logging.getLogger(__name__)
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0


def topic_prefix(settings: Settings) -> str:
    return settings.connect_topic_prefix or f"{settings.app_id}.connect"


async def start_with_retries(
    herder: Herder, partitions: int, first_s: float = RETRY_FIRST_S, max_s: float = RETRY_MAX_S
) -> None:
    """``herder.start`` until it succeeds: an exception in a Faust app task crashes the worker."""
    delay = first_s
    while True:
        try:
            await herder.start(partitions)
            return
        except Exception as exc:
            log.warning(
                "connect worker %s cannot start (%r); retrying in %.0f s",
                herder.worker_id,
                exc,
                delay,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_s)


def install_connect(app: faust.App, settings: Settings, services: Services) -> Herder:
    topics = ConnectTopics(topic_prefix(settings))
    partitions = settings.connect_task_partitions
    consumer_config = broker_profile.consumer_config(settings)
    store = ConnectStore(
        settings.kafka_bootstrap,
        topics,
        lambda: services.producer,
        consumer_config,
        settings.replication_factor,
    )
    deps = RunnerDeps(store, settings.kafka_bootstrap, consumer_config)
    herder = Herder(f"{settings.web_host}:{settings.web_port}", store, deps, partitions)
    tasks_topic = app.topic(
        topics.tasks, partitions=partitions, value_serializer="raw", internal=True
    )

    @app.agent(tasks_topic, name="connect-task-slots")
    async def task_slots(stream: Any) -> None:
        async for _ in stream:  # the topic carries no data; its partitions are the task slots
            pass

    def _ours(assigned: Any) -> set[int]:
        return {tp.partition for tp in assigned if tp.topic == topics.tasks}

    async def on_assigned(sender: Any, *args: Any, signal: Any, **_: Any) -> None:
        assigned = args[0]
        herder.set_owned(_ours(assigned))

    async def on_revoked(sender: Any, *args: Any, signal: Any, **_: Any) -> None:
        revoked = args[0]
        await herder.revoke(_ours(revoked))

    async def on_shutdown(sender: Any, *args: Any, signal: Any, **_: Any) -> None:
        await herder.close()

    app.on_partitions_assigned.connect(cast(Any, on_assigned))
    app.on_partitions_revoked.connect(cast(Any, on_revoked))
    app.on_before_shutdown.connect(cast(Any, on_shutdown))

    @app.task  # type: ignore[untyped-decorator]
    async def start_connect() -> None:
        await start_with_retries(herder, partitions)
        log.info("connect worker %s ready", herder.worker_id)

    install_connect_views(app, herder)
    return herder
