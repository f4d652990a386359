"""Registry semantics (Confluent's) on the in-memory store, with the real format handlers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

from schemas.registry import MemoryLog, MemoryStore, RegistryError, RegistryService, SchemaPayload
from schemas.registry.records import Record
from schemas.types import SchemaReference, SchemaType


def avro(*fields: tuple[str, object], name: str = "User") -> SchemaPayload:
    record = {
        "type": "record",
        "name": name,
        "fields": [
            {"name": n, "type": t, **({"default": None} if isinstance(t, list) else {})}
            for n, t in fields
        ],
    }
    return SchemaPayload(json.dumps(record), SchemaType.AVRO)


USER_V1 = avro(("id", "long"))
USER_V2 = avro(("id", "long"), ("email", ["null", "string"]))
USER_BREAKING = avro(("id", "string"))


Factory = Callable[..., Awaitable[RegistryService]]


@pytest.fixture
async def started() -> AsyncIterator[Factory]:
    services: list[RegistryService] = []

    async def start(log: MemoryLog | None = None) -> RegistryService:
        service = RegistryService(MemoryStore(log))
        await service.start()
        services.append(service)
        return service

    yield start
    for service in services:
        await service.stop()


async def error_code(awaitable: object) -> int:
    with pytest.raises(RegistryError) as caught:
        if asyncio.iscoroutine(awaitable):
            await awaitable
    return caught.value.error_code


def sync_error_code(call: object, *args: object, **kwargs: object) -> int:
    with pytest.raises(RegistryError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value.error_code


async def test_ids_are_global_and_stable_across_subjects_and_versions(started: Factory) -> None:
    service = await started()
    first = await service.register("users-value", USER_V1)
    assert await service.register("users-value", USER_V1) == first
    reformatted = SchemaPayload(json.dumps(json.loads(USER_V1.text), indent=4), SchemaType.AVRO)
    assert await service.register("users-value", reformatted) == first
    assert await service.register("other-value", USER_V1) == first
    second = await service.register("users-value", USER_V2)
    assert second != first
    assert service.versions("users-value") == [1, 2]
    assert service.subjects() == ["other-value", "users-value"]
    assert service.subjects_by_id(first) == ["other-value", "users-value"]
    latest = service.version("users-value", "latest")
    assert (latest["version"], latest["id"]) == (2, second)
    assert "schemaType" not in latest  # Confluent omits AVRO
    assert service.lookup("other-value", reformatted)["version"] == 1


async def test_incompatible_registration_is_409_and_checks_explain_why(started: Factory) -> None:
    service = await started()
    await service.register("s", USER_V1)
    assert await error_code(service.register("s", USER_BREAKING)) == 409
    verdict = service.check_compatibility("s", USER_BREAKING, "latest", verbose=True)
    assert verdict["is_compatible"] is False and verdict["messages"]
    assert service.check_compatibility("s", USER_V2, None) == {"is_compatible": True}
    await service.set_config("s", "none")
    assert service.get_config("s") == {"compatibilityLevel": "NONE"}
    await service.register("s", USER_BREAKING)
    assert service.versions("s") == [1, 2]


async def test_config_falls_back_to_global_and_validates_levels(started: Factory) -> None:
    service = await started()
    assert service.get_config(None) == {"compatibilityLevel": "BACKWARD"}
    assert sync_error_code(service.get_config, "s") == 40408
    assert service.get_config("s", default_to_global=True) == {"compatibilityLevel": "BACKWARD"}
    await service.set_config(None, "FULL")
    await service.set_config("s", "FORWARD_TRANSITIVE")
    assert service.compatibility_of("s").value == "FORWARD_TRANSITIVE"
    assert await service.delete_config("s") == {"compatibilityLevel": "FORWARD_TRANSITIVE"}
    assert service.compatibility_of("s").value == "FULL"
    assert await error_code(service.set_config("s", "SIDEWAYS")) == 42203


async def test_modes_guard_writes(started: Factory) -> None:
    service = await started()
    await service.register("s", USER_V1)
    await service.set_mode("s", "READONLY")
    assert await error_code(service.register("s", USER_V2)) == 42205
    assert await error_code(service.delete_subject("s")) == 42205
    assert service.get_mode("s") == {"mode": "READONLY"}
    assert service.get_mode(None) == {"mode": "READWRITE"}
    assert await error_code(service.set_mode(None, "SOMETIMES")) == 42204
    assert await error_code(service.set_mode(None, "IMPORT")) == 42205  # schemas exist
    await service.delete_mode("s")
    assert sync_error_code(service.get_mode, "s") == 40409


async def test_import_mode_keeps_given_ids_and_versions(started: Factory) -> None:
    service = await started()
    assert await error_code(service.register("s", USER_V1, schema_id=42)) == 42205
    await service.set_mode(None, "IMPORT")
    assert await service.register("s", USER_V1, schema_id=42, version=7) == 42
    assert service.version("s", "7")["id"] == 42
    assert await error_code(service.register("t", USER_V2, schema_id=42, version=1)) == 42205
    await service.set_mode(None, "READWRITE")
    assert await service.register("t", USER_V2) == 43


async def test_soft_then_permanent_deletes_follow_confluent(started: Factory) -> None:
    service = await started()
    one = await service.register("s", USER_V1)
    await service.register("s", USER_V2)
    assert await error_code(service.delete_version("s", "1", permanent=True)) == 40407
    assert await service.delete_version("s", "1") == 1
    assert await error_code(service.delete_version("s", "1")) == 40406
    assert sync_error_code(service.version, "s", "1") == 40402
    assert service.version("s", "1", deleted=True)["id"] == one
    assert service.versions("s") == [2]
    assert service.versions("s", deleted=True) == [1, 2]
    assert service.schema_by_id(one)["schema"] == USER_V1.text  # soft-deleted still served
    assert await error_code(service.delete_subject("s", permanent=True)) == 40405
    assert await service.delete_subject("s") == [2]
    assert await error_code(service.delete_subject("s")) == 40404
    assert service.subjects() == [] and service.subjects(deleted=True) == ["s"]
    assert sync_error_code(service.versions, "s") == 40401
    assert await service.delete_subject("s", permanent=True) == [1, 2]
    assert sync_error_code(service.schema_by_id, one) == 40403
    assert await error_code(service.delete_subject("s")) == 40401
    # the same schema registered again gets its old id back: ids never change meaning
    assert await service.register("s", USER_V1) == one


async def test_errors_for_unknown_things_and_bad_input(started: Factory) -> None:
    service = await started()
    assert sync_error_code(service.schema_by_id, 99) == 40403
    assert sync_error_code(service.versions, "nope") == 40401
    assert sync_error_code(service.lookup, "nope", USER_V1) == 40401
    await service.register("s", USER_V1)
    assert sync_error_code(service.lookup, "s", USER_V2) == 40403
    assert sync_error_code(service.version, "s", "abc") == 42202
    assert sync_error_code(service.version, "s", "0") == 42202
    assert sync_error_code(service.version, "s", "9") == 40402
    bad = SchemaPayload('{"type": "nope"}', SchemaType.AVRO)
    assert await error_code(service.register("s", bad)) == 42201
    missing_ref = SchemaPayload(USER_V1.text, SchemaType.AVRO, (SchemaReference("A", "zz", 1),))
    assert await error_code(service.register("s", missing_ref)) == 42201
    with pytest.raises(RegistryError) as caught:
        SchemaPayload.from_json({"schemaType": "AVRO"})
    assert caught.value.error_code == 422


async def test_references_referencedby_and_protected_deletes(started: Factory) -> None:
    service = await started()
    address = avro(("street", "string"), name="Address")
    address_id = await service.register("address", address)
    person = SchemaPayload(
        json.dumps(
            {"type": "record", "name": "Person", "fields": [{"name": "home", "type": "Address"}]}
        ),
        SchemaType.AVRO,
        (SchemaReference("Address", "address", 1),),
    )
    person_id = await service.register("person", person)
    assert service.referenced_by("address", "1") == [person_id]
    assert service.version("person", "latest")["references"] == [
        {"name": "Address", "subject": "address", "version": 1}
    ]
    assert await error_code(service.delete_version("address", "1")) == 42206
    assert await error_code(service.delete_subject("address")) == 42206
    await service.delete_subject("person")
    assert service.referenced_by("address", "1") == []
    assert await service.delete_version("address", "1") == 1
    assert service.schema_by_id(address_id)["schema"] == address.text


async def test_protobuf_is_stored_as_proto_text_and_served_serialized(started: Factory) -> None:
    service = await started()
    proto = 'syntax = "proto3";\npackage t;\nmessage Ping { string id = 1; }\n'
    schema_id = await service.register("p", SchemaPayload(proto, SchemaType.PROTOBUF))
    answer = service.schema_by_id(schema_id)
    assert answer["schemaType"] == "PROTOBUF" and "message Ping" in answer["schema"]
    serialized = service.schema_by_id(schema_id, fmt="serialized")["schema"]
    from_descriptor = SchemaPayload(serialized, SchemaType.PROTOBUF)
    assert await service.register("p", from_descriptor) == schema_id


async def test_two_instances_on_one_log_agree_after_racing(started: Factory) -> None:
    """B plans from a stale state, loses the claim on id 1 and takes the next id."""
    log = MemoryLog()
    a, b = await started(log), await started(log)
    x = await a.register("x", USER_V1)
    y = await b.register("y", avro(("name", "string"), name="Other"))
    assert (x, y) == (1, 2)
    assert await b.register("z", USER_V1) == x  # same schema, other instance: same id
    await a.store.sync()
    assert a.store.state == b.store.state
    assert a.store.state.rejected_claims == 1


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.appends = 0

    async def append(self, records: Sequence[Record]) -> None:
        self.appends += 1
        await asyncio.sleep(0.001)  # a write takes time: registrations queue behind it
        await super().append(records)


async def test_concurrent_registrations_group_into_few_writes() -> None:
    store = CountingStore()
    service = RegistryService(store)
    await service.start()
    try:
        payloads = [avro((f"f{i}", "long"), name=f"R{i}") for i in range(20)]
        ids = await asyncio.gather(*(service.register(f"s{i}", p) for i, p in enumerate(payloads)))
        again = await asyncio.gather(
            *(service.register(f"s{i}", p) for i, p in enumerate(payloads))
        )
    finally:
        await service.stop()
    assert sorted(ids) == list(range(1, 21)) and again == ids
    assert len(store.log.records) == 20  # one claim per new schema, none for repeats
    assert store.appends <= 2  # the first alone, the 19 that queued behind it together


async def test_concurrent_versions_of_one_subject_are_each_checked_against_the_last(
    started: Factory,
) -> None:
    service = await started()
    await service.register("s", USER_V1)
    as_text = avro(("id", "long"), ("x", ["null", "string"]))
    as_number = avro(("id", "long"), ("x", ["null", "long"]))  # fine after v1, not after as_text
    outcomes = await asyncio.gather(
        service.register("s", as_text), service.register("s", as_number), return_exceptions=True
    )
    assert isinstance(outcomes[0], int)
    assert isinstance(outcomes[1], RegistryError) and outcomes[1].error_code == 409
    assert service.versions("s") == [1, 2]


async def test_racing_different_schemas_for_one_slot_get_different_ids(started: Factory) -> None:
    """Both instances plan (subject s, version 1, id 1) from the same empty state.

    A's claim comes first in the log; B's claim for another schema on the same slot and id is
    rejected by every reader, and B must retry (id 2, version 2) instead of answering id 1.
    """
    log = MemoryLog()
    a, b = await started(log), await started(log)
    other = avro(("id", "long"), ("email", ["null", "string"]))
    a_id = await a.register("s", USER_V1)
    assert len(b.store.state.schemas) == 0  # B has not read A's claim: it plans from stale state
    b_id = await b.register("s", other)
    assert (a_id, b_id) == (1, 2)
    assert b.store.state.rejected_claims == 1
    await a.store.sync()
    for service in (a, b):
        assert json.loads(service.schema_by_id(b_id)["schema"]) == json.loads(other.text)
        assert [e.schema_id for e in service.store.state.versions("s")] == [1, 2]
        assert service.lookup("s", other)["id"] == b_id
