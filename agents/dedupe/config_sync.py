"""One de-duplication config for every instance: `PUT /v1/dedupe/config` stores the whole
registry as JSON in Redis; each instance reloads it on its ~1 s dedupe timer when the stored
document changed. Without Redis the config is per instance (settings + PUTs to that instance).

Concurrent PUTs to different instances: the last write wins for the whole document (each PUT
merges into the registry of the instance that received it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from tables.dedupe import DedupeConfigError, DedupeConfigRegistry, parse_dedupe_config
from tables.dedupe.engine import REDIS_DOWN_ERRORS

log = logging.getLogger(__name__)


class ConfigUnavailable(RuntimeError):
    """Redis is configured but did not take the new config; nothing was changed."""


def registry_from_json(data: Mapping[str, Any]) -> DedupeConfigRegistry:
    """A fresh registry from `{"default": {...}, "sources": {...}}` (raises DedupeConfigError)."""
    registry = DedupeConfigRegistry()
    if "default" in data:
        registry.default = parse_dedupe_config(data["default"])
    registry.update_from_json({"sources": data.get("sources", {})})
    return registry


def registry_from_setting(text: str | Mapping[str, Any]) -> DedupeConfigRegistry:
    if not text:
        return DedupeConfigRegistry()
    try:
        data = orjson.loads(text) if isinstance(text, str) else text
    except orjson.JSONDecodeError as exc:
        raise DedupeConfigError("DATANEXUS_DEDUPE_CONFIG", f"not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise DedupeConfigError("DATANEXUS_DEDUPE_CONFIG", "must be a JSON object")
    return registry_from_json(data)


def replace_contents(target: DedupeConfigRegistry, source: DedupeConfigRegistry) -> None:
    """Engines hold the registry object: change it in place."""
    target.default = source.default
    target.per_source = dict(source.per_source)


class ConfigSync:
    def __init__(self, registry: DedupeConfigRegistry, redis: Redis | None, key: str) -> None:
        self.registry = registry
        self.redis = redis
        self.key = key
        self._last_seen: bytes | None = None

    @property
    def shared(self) -> bool:
        return self.redis is not None

    async def update(self, body: Mapping[str, Any]) -> None:
        """Validate and apply a PUT body here, and store it for the other instances."""
        candidate = DedupeConfigRegistry(self.registry.default, dict(self.registry.per_source))
        candidate.update_from_json(body)
        if self.redis is not None:
            document = orjson.dumps(candidate.to_json())
            try:
                await self.redis.set(self.key, document)
            except REDIS_DOWN_ERRORS as exc:
                raise ConfigUnavailable(f"{type(exc).__name__}: {exc}") from None
            self._last_seen = document
        replace_contents(self.registry, candidate)

    async def reload(self) -> bool:
        """Adopt the stored document if it changed; returns True when the registry changed."""
        if self.redis is None:
            return False
        try:
            stored = await self.redis.get(self.key)
        except REDIS_DOWN_ERRORS:
            return False
        if stored is None:
            return False
        document = stored.encode() if isinstance(stored, str) else stored
        if document == self._last_seen:
            return False
        try:
            loaded = registry_from_json(orjson.loads(document))
        except (DedupeConfigError, orjson.JSONDecodeError) as exc:
            log.error("ignoring invalid dedupe config in Redis key %s: %s", self.key, exc)
            self._last_seen = document
            return False
        self._last_seen = document
        replace_contents(self.registry, loaded)
        return True
