"""The Redis client the dedupe engine expects: fail fast, so an outage degrades to local state
within one batch instead of stalling ingest in redis-py's default retry backoff."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def dedupe_redis_client(url: str, timeout_s: float = 0.5) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
