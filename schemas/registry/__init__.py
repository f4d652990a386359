"""Confluent-compatible schema registry: state in the ``_schemas`` topic, served by Faust web."""

from __future__ import annotations

from schemas.registry.errors import RegistryError
from schemas.registry.kafka_store import KafkaSchemaStore, KafkaStoreConfig
from schemas.registry.memory_store import MemoryLog, MemoryStore
from schemas.registry.service import RegistryService, SchemaPayload
from schemas.registry.types import SchemaStore

SCHEMAS_TOPIC = "_schemas"


def create_registry_service(
    bootstrap_servers: str,
    *,
    embedded_broker: bool,
    topic: str = SCHEMAS_TOPIC,
    fetch_wait_ms: int | None = None,
) -> RegistryService:
    """A registry on the Kafka topic ``topic``; ``embedded_broker`` enables the Tansu settings.

    ``fetch_wait_ms``: Tansu does not answer a waiting fetch early when data arrives, so the
    reader's wait bounds how fast a write is read back; each wait is also a fetch the broker
    serves while idle. The app takes it from ``app/broker_profile.py``."""
    config = KafkaStoreConfig(
        bootstrap_servers=bootstrap_servers,
        topic=topic,
        single_record_batches=embedded_broker,
        fetch_wait_ms=fetch_wait_ms or (5 if embedded_broker else 100),
        reread_offset_gaps=embedded_broker,
    )
    return RegistryService(KafkaSchemaStore(config))


__all__ = [
    "SCHEMAS_TOPIC",
    "KafkaSchemaStore",
    "KafkaStoreConfig",
    "MemoryLog",
    "MemoryStore",
    "RegistryError",
    "RegistryService",
    "SchemaPayload",
    "SchemaStore",
    "create_registry_service",
]
