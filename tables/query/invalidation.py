"""Cache invalidation across instances over Redis pub/sub.

Message (JSON on one channel): ``{"metric": str, "from": ms, "to": ms, "origin": instance id}``.
Every instance publishes the ranges it invalidated and drops the same blocks when it hears another
instance's message (its own are skipped: they were applied locally before publishing). Pub/sub is
fire-and-forget: an instance that is disconnected misses messages, which is why open blocks also
carry a TTL; after a reconnect the subscriber clears the whole cache to be safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tables.query.engine import QueryEngine

DEFAULT_CHANNEL = "datanexus.query.invalidate"
log = logging.getLogger(__name__)


def encode_message(metric: str, from_ms: int, to_ms: int, origin: str) -> bytes:
    return orjson.dumps({"metric": metric, "from": from_ms, "to": to_ms, "origin": origin})


def decode_message(raw: bytes | str) -> tuple[str, int, int, str] | None:
    """(metric, from, to, origin), or None for a malformed message (logged, then ignored)."""
    try:
        body = orjson.loads(raw)
        return str(body["metric"]), int(body["from"]), int(body["to"]), str(body.get("origin"))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("ignoring malformed invalidation message %r", raw)
        return None


class RedisInvalidationBus:
    """Publisher (``InvalidationPublisher``) and subscriber for one engine.

    Wiring: ``bus = RedisInvalidationBus(redis)``; ``engine.publisher = bus``;
    ``await bus.start(engine)`` at app start (returns once subscribed); ``await bus.stop()``.
    """

    def __init__(
        self, redis: Redis, channel: str = DEFAULT_CHANNEL, instance_id: str | None = None
    ) -> None:
        self._redis = redis
        self.channel = channel
        self.instance_id = instance_id or uuid.uuid4().hex
        self._task: asyncio.Task[None] | None = None
        self.received = 0

    async def publish(self, metric: str, from_ms: int, to_ms: int) -> None:
        await self._redis.publish(
            self.channel, encode_message(metric, from_ms, to_ms, self.instance_id)
        )

    async def start(self, engine: QueryEngine) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.channel)
        self._task = asyncio.create_task(self._listen(engine, pubsub))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self, engine: QueryEngine, pubsub: Any) -> None:
        try:
            while True:
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except RedisConnectionError:
                    log.warning("invalidation subscriber lost Redis; clearing the query cache")
                    engine.cache.clear()
                    await asyncio.sleep(0.5)
                    continue
                if message is None or message.get("type") != "message":
                    continue
                decoded = decode_message(message["data"])
                if decoded is None:
                    continue
                metric, from_ms, to_ms, origin = decoded
                if origin == self.instance_id:
                    continue
                self.received += 1
                engine.invalidate_local(metric, from_ms, to_ms)
        finally:
            await pubsub.aclose()
