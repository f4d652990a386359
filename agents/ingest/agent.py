"""The Kafka-native ingest agent: ``datanexus.ingest.raw`` -> accepted / dlq, in batches.

Per-event work is kept to the minimum Faust itself needs: events are collected by
:class:`EventBatcher`, triaged in one pure pass, and the whole batch is sent through the fast
producer with one await. Events are acknowledged (and so committed) only after the broker has
acknowledged every output record; a failed send is retried by the batcher, never abandoned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import faust

from agents.batching import EventBatcher
from agents.ingest.triage import RawMessage, triage
from app.metrics import INGEST_BATCH_SECONDS, count_batch, tally_sources
from app.services import Services
from app.settings import Settings

log = logging.getLogger(__name__)

AGENT_NAME = "datanexus.ingest.validate"


def install_ingest_agent(app: faust.App, settings: Settings, services: Services) -> Any:
    raw_topic = app.topic(
        settings.topic_raw,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    accepted_topic, dlq_topic = settings.topic_accepted, settings.topic_dlq
    batch_size, within = settings.agent_batch_size, settings.agent_batch_within_s

    async def validate(stream: faust.StreamT[bytes]) -> None:
        producer = services.producer

        async def handle(events: Sequence[Any]) -> None:
            started = time.perf_counter()
            messages = [
                RawMessage(m.key, m.value, m.headers, m.topic, m.partition, m.offset)
                for m in (e.message for e in events)
            ]
            result = triage(messages, int(time.time() * 1000))
            await producer.send_many([(accepted_topic, result.accepted), (dlq_topic, result.dead)])
            count_batch("kafka", tally_sources(result.sources), result.rejected)
            INGEST_BATCH_SECONDS.labels("kafka").observe(time.perf_counter() - started)

        await EventBatcher(stream, handle, batch_size, within).run()

    return app.agent(raw_topic, name=AGENT_NAME)(validate)
