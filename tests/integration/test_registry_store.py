"""The Kafka store: instances racing on one ``_schemas`` topic converge; a new reader replays it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from schemas.registry import (
    KafkaSchemaStore,
    KafkaStoreConfig,
    RegistryError,
    RegistryService,
    SchemaPayload,
)
from schemas.types import SchemaType

pytestmark = pytest.mark.integration

Factory = Callable[[], Awaitable[RegistryService]]


@pytest.fixture
async def instances(kafka_bootstrap: str, embedded_broker_in_use: bool) -> AsyncIterator[Factory]:
    topic = f"_schemas-test-{uuid.uuid4().hex[:8]}"
    started: list[RegistryService] = []

    async def start() -> RegistryService:
        config = KafkaStoreConfig(
            kafka_bootstrap, topic=topic, single_record_batches=embedded_broker_in_use
        )
        service = RegistryService(KafkaSchemaStore(config))
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop()


def record(name: str) -> SchemaPayload:
    text = json.dumps({"type": "record", "name": name, "fields": [{"name": "a", "type": "long"}]})
    return SchemaPayload(text, SchemaType.AVRO)


async def test_racing_instances_agree_and_a_new_reader_replays_the_same_state(
    instances: Factory,
) -> None:
    a, b = await instances(), await instances()
    shared = [record(f"Shared{i}") for i in range(10)]
    own_a = [record(f"A{i}") for i in range(10)]
    own_b = [record(f"B{i}") for i in range(10)]
    results = await asyncio.gather(
        *(a.register(f"a-{i}", p) for i, p in enumerate(shared + own_a)),
        *(b.register(f"b-{i}", p) for i, p in enumerate(shared + own_b)),
        *(b.register(f"same-{i}", p) for i, p in enumerate(shared)),
        *(a.register(f"same-{i}", p) for i, p in enumerate(shared)),
    )
    from_a, from_b = results[:20], results[20:40]
    same_b, same_a = results[40:50], results[50:]
    assert from_a[:10] == from_b[:10] == same_a == same_b  # one id per schema
    assert len(set(results)) == 30  # and distinct schemas never share one
    # both planned from the same state at once: some claims lost and were retried
    await a.store.sync()
    await b.store.sync()
    assert a.store.state.rejected_claims == b.store.state.rejected_claims > 0
    assert a.store.state.schemas == b.store.state.schemas
    assert all(a.versions(f"same-{i}") == [1] for i in range(10))

    replayed = await instances()
    assert replayed.store.state.schemas == a.store.state.schemas
    assert replayed.store.state.subjects == a.store.state.subjects
    for i, schema_id in enumerate(from_b):
        assert replayed.version(f"b-{i}", "latest")["id"] == schema_id


async def test_config_mode_and_deletes_survive_a_replay(instances: Factory) -> None:
    writer = await instances()
    await writer.register("s", record("S"))
    await writer.set_config("s", "FULL")
    await writer.set_mode("other", "READONLY")
    await writer.delete_subject("s")
    reader = await instances()
    assert reader.get_config("s") == {"compatibilityLevel": "FULL"}
    assert reader.get_mode("other") == {"mode": "READONLY"}
    assert reader.subjects() == [] and reader.subjects(deleted=True) == ["s"]
    await reader.delete_subject("s", permanent=True)
    await writer.store.sync()
    with pytest.raises(RegistryError) as caught:
        writer.versions("s", deleted=True)
    assert caught.value.error_code == 40401
