"""One Redis round trip for the Bloom lookups of a whole stream batch.

The stream stage decides a batch partition by partition (each partition has its own table
state), which cost one Redis round trip per partition, all on the stage's serial path. Bloom
lookups need no partition state, so they are fetched for the whole batch first; the
per-partition checks then find them answered and skip their own round trip when nothing else
needs Redis. Answers are valid for this batch only: no addition can land in between except the
in-flight ones, which count as seen here just as in the per-partition lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from redis.asyncio.client import Pipeline

from tables.bloom import RedisSlicedBloom
from tables.bloom.redis_sliced import execute_pipeline
from tables.dedupe.config import DedupeMode
from tables.dedupe.types import Record

if TYPE_CHECKING:
    from tables.dedupe.engine import DedupeEngine

BloomAnswers = dict[tuple[str, bytes], tuple[bool, bool]]
"""(source, key) -> (seen by the window filter, seen by the late summary)."""


async def prefetch_bloom(engine: DedupeEngine, records: Sequence[Record], now_ms: int) -> None:
    """Look up every Bloom-mode record of the batch at once; answers go to `engine`."""
    from tables.dedupe.engine import REDIS_DOWN_ERRORS
    from tables.dedupe.plan import NO_SOURCE

    engine.bloom_answers = {}
    if engine.redis is None or engine.degraded:
        return
    by_source: dict[str, list[bytes]] = {}
    for record in records:
        source = record.get("source")
        if engine.registry.for_source(source).mode is DedupeMode.BLOOM:
            by_source.setdefault(source or NO_SOURCE, []).append(record["id"].encode())
    if not by_source:
        return

    def build(pipe: Pipeline) -> None:
        for source, keys in by_source.items():
            filters = engine.filters_for(source)
            assert filters.window is not None and filters.late is not None
            filters.window.queue_check_and_add(pipe, keys, now_ms, add=False)
            filters.late.queue_check_and_add(pipe, keys, now_ms, add=False)

    try:
        results = await execute_pipeline(engine.redis, RedisSlicedBloom.scripts, build)
    except REDIS_DOWN_ERRORS:
        return  # the per-partition checks ask again (and degrade if Redis stays away)
    answers: BloomAnswers = {}
    holds = engine.in_flight.holds
    for number, (source, keys) in enumerate(by_source.items()):
        window = RedisSlicedBloom.parse(results[2 * number])
        late = RedisSlicedBloom.parse(results[2 * number + 1])
        for key, in_window, in_late in zip(keys, window, late, strict=True):
            answers[(source, key)] = (in_window or holds(source, key), in_late)
    engine.bloom_answers = answers
