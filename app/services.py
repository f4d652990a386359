"""Process-wide clients a worker shares between agents and views, created on first use.

Nothing here connects at import time, so CLI commands that never touch Kafka or Redis (``broker``,
``--help``) stay fast and work without services.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis

from app import broker_profile
from app.producer import FastProducer
from app.settings import Settings

log = logging.getLogger(__name__)


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: FastProducer | None = None
        self._redis: aioredis.Redis | None = None

    @property
    def producer(self) -> FastProducer:
        if self._producer is None:
            self._producer = FastProducer(
                self.settings.kafka_bootstrap, partitioner="murmur2_random"
            )
        return self._producer

    @property
    def redis(self) -> aioredis.Redis | None:
        """The shared Redis client, or None when this instance runs on local state only."""
        if not self.settings.redis_url:
            return None
        if self._redis is None:
            self._redis = aioredis.from_url(
                self.settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
            )
        return self._redis

    async def broker_health(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            metadata = await loop.run_in_executor(None, self.producer.list_topics, 3.0)
        except Exception as exc:
            return {"ok": False, "bootstrap": self.settings.kafka_bootstrap, "error": str(exc)}
        return {
            "ok": True,
            "bootstrap": self.settings.kafka_bootstrap,
            "embedded": self.settings.embedded_broker,
            "brokers": len(metadata.brokers),
            "quirk_profile": bool(broker_profile.faust_settings(self.settings)),
        }

    async def redis_health(self) -> dict[str, Any]:
        client = self.redis
        if client is None:
            return {
                "configured": False,
                "ok": True,
                "mode": "local",
                "note": "no Redis configured: single instance on its local RocksDB state",
            }
        try:
            await asyncio.wait_for(client.ping(), 2.5)
        except Exception as exc:
            return {"configured": True, "ok": False, "mode": "shared", "error": str(exc)}
        return {"configured": True, "ok": True, "mode": "shared"}

    async def close(self) -> None:
        if self._producer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._producer.close)
            self._producer = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
