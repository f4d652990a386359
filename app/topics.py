"""Creating the topics DataNexus owns, before any consumer subscribes to them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from app.settings import Settings

log = logging.getLogger(__name__)

DLQ_RETENTION_MS = 14 * 24 * 3600 * 1000


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    replication_factor: int = 1,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    timeout_s: float = 15.0,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [t for t in dict.fromkeys(topics) if t not in existing]
    if not missing:
        return []
    configs = configs or {}
    futures = admin.create_topics(
        [
            NewTopic(t, partitions, replication_factor, config=dict(configs.get(t, {})))
            for t in missing
        ],
        operation_timeout=timeout_s,
    )
    created = []
    for topic, future in futures.items():
        try:
            future.result(timeout_s)
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    if created:
        log.info("created topics %s", ", ".join(created))
    return created


def ensure_ingest_topics(settings: Settings) -> list[str]:
    t = settings.topics
    return ensure_topics(
        settings.kafka_bootstrap,
        [t.raw, t.accepted, t.dlq],
        settings.partitions,
        settings.replication_factor,
        configs={t.dlq: {"retention.ms": str(DLQ_RETENTION_MS)}},
    )
