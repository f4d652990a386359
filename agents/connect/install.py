"""Wires the connect runtime into the Faust app: state topics, task placement, REST views.

Task placement rides on Faust's consumer group: an agent subscribes to the tasks topic (it
carries no data), and the partitions Faust assigns to this worker are the tasks it runs.
"""

from __future__ import annotations

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


def install_connect(app: faust.App, settings: Settings, services: Services) -> Herder:
    topics = ConnectTopics(settings.connect_topic_prefix)
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
        await herder.start(partitions)
        log.info("connect worker %s ready", herder.worker_id)

    install_connect_views(app, herder)
    return herder
