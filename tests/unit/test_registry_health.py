"""The registry's part of ``/health``: degraded until its reader has caught up with the log."""

from __future__ import annotations

import json

from schemas.registry import MemoryStore, RegistryService, SchemaPayload
from schemas.registry.web import registry_health
from schemas.types import SchemaType


async def test_health_is_degraded_until_ready_and_counts_what_was_read() -> None:
    service = RegistryService(MemoryStore())
    assert registry_health(service, ready=False) == {
        "ok": True,
        "ready": False,
        "degraded": True,
        "schemas": 0,
        "subjects": 0,
        "last_offset": -1,
    }
    await service.start()
    try:
        record = {"type": "record", "name": "H", "fields": [{"name": "a", "type": "long"}]}
        await service.register("h-value", SchemaPayload(json.dumps(record), SchemaType.AVRO))
        health = registry_health(service, ready=True)
        assert (health["ready"], health["degraded"]) == (True, False)
        assert (health["schemas"], health["subjects"]) == (1, 1)
        assert health["last_offset"] >= 0
    finally:
        await service.stop()
