"""The Kafka-native ingest agent: ``datanexus.ingest.raw`` -> accepted / dlq, in batches.

Per-event work is kept to the minimum Faust itself needs: events are taken in batches, triaged in
one pure pass, and the whole batch is sent through the fast producer with one await. The events are
acknowledged (and so committed) only after the broker has acknowledged every output record, and a
failed send is retried rather than abandoned: Faust's ``take`` acks a batch even when the loop
body raises, so raising here would lose records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust

from agents.ingest.triage import RawMessage, triage
from app.metrics import INGEST_BATCH_SECONDS, count_batch, tally_sources
from app.producer import DeliveryError, FastProducer
from app.services import Services
from app.settings import Settings

log = logging.getLogger(__name__)

AGENT_NAME = "datanexus.ingest.validate"
MAX_RETRY_DELAY_S = 5.0


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
        async for events in stream.take_events(batch_size, within=within):  # type: ignore[attr-defined]
            started = time.perf_counter()
            messages = [
                RawMessage(
                    e.message.key,
                    e.message.value,
                    e.message.headers,
                    e.message.topic,
                    e.message.partition,
                    e.message.offset,
                )
                for e in events
            ]
            result = triage(messages, int(time.time() * 1000))
            await _send_until_acknowledged(
                producer, [(accepted_topic, result.accepted), (dlq_topic, result.dead)]
            )
            count_batch("kafka", tally_sources(result.sources), result.rejected)
            INGEST_BATCH_SECONDS.labels("kafka").observe(time.perf_counter() - started)

    return app.agent(raw_topic, name=AGENT_NAME)(validate)


async def _send_until_acknowledged(
    producer: FastProducer, batches: list[tuple[str, list[Any]]]
) -> None:
    delay = 0.1
    while True:
        try:
            await producer.send_many(batches)
            return
        except DeliveryError as exc:
            log.warning("ingest output not acknowledged (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_S)
