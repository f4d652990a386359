"""Redis sink: each record becomes ``SET prefix+key value`` (or HSET of a struct); one pipeline
per batch; a tombstone deletes the key. Rewriting a key is idempotent (at-least-once is safe)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from agents.connect.configdef import ConfigKey, non_empty, one_of
from agents.connect.converters import dumps
from agents.connect.plugins import ConnectorPlugin, TaskContext
from agents.connect.types import (
    ConfigType,
    ConnectorError,
    ConnectorType,
    ConnectRecord,
    RetriableError,
)


def _text(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return dumps(value)


class RedisSinkTask:
    def __init__(self, config: Mapping[str, Any], context: TaskContext) -> None:
        self.url = str(config["redis.url"])
        self.prefix = str(config.get("redis.key.prefix") or "")
        self.command = str(config.get("redis.command") or "SET").upper()
        self._client: aioredis.Redis | None = None

    async def start(self) -> None:
        self._client = aioredis.from_url(self.url, socket_timeout=5.0)

    async def put(self, records: Sequence[ConnectRecord]) -> None:
        assert self._client is not None
        pipe = self._client.pipeline(transaction=False)
        for record in records:
            if record.key is None:
                raise ConnectorError("Redis sink needs a record key")
            key = self.prefix.encode() + _text(record.key)
            if record.value is None:
                pipe.delete(key)
            elif self.command == "HSET":
                if not isinstance(record.value, Mapping):
                    raise ConnectorError("HSET needs struct/map values")
                pipe.delete(key)
                pipe.hset(key, mapping={str(k): _text(v) for k, v in record.value.items()})
            else:
                pipe.set(key, _text(record.value))
        try:
            await pipe.execute()
        except RedisConnectionError as exc:
            raise RetriableError(f"Redis unavailable: {exc}") from None
        except RedisError as exc:
            raise ConnectorError(f"Redis rejected the batch: {exc}") from None

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


SINK = ConnectorPlugin(
    "com.github.jcustenborder.kafka.connect.redis.RedisSinkConnector",
    ConnectorType.SINK,
    (
        ConfigKey("redis.url", ConfigType.STRING, "redis:// URL", validator=non_empty),
        ConfigKey("redis.key.prefix", ConfigType.STRING, default=""),
        ConfigKey(
            "redis.command", ConfigType.STRING, default="SET", validator=one_of("set", "hset")
        ),
    ),
    RedisSinkTask,
    aliases=("RedisSink", "RedisSinkConnector"),
)
