"""Exact/fuzzy first-seen keys in Redis: `SET key first_seen NX GET PX ttl` for a whole batch
in one Lua call, plus the queue that replays first-seen keys after an outage."""

from __future__ import annotations

import struct
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio.client import Pipeline

from tables.bloom import SlicePlan
from tables.bloom.redis_sliced import ScriptHandle

if TYPE_CHECKING:
    from tables.dedupe.filters import SourceFilters

# KEYS[1]: a routing key carrying the source's hash tag (all keys of a batch share it, so the
# script is Redis-Cluster friendly). ARGV[1]: key prefix; ARGV[2]: packed entries
# (<i8 value, <i8 ttl_ms, <I4 key length, key bytes). Returns one comma-separated string with,
# per entry, the earlier value if the key existed (nothing changed) or '' if this call set it;
# 'r' if the key held a release tombstone (then it is taken over like a new key).
# Packed arguments and one bulk reply keep redis-py's per-argument Python cost off the batch.
SET_FIRST_SEEN_LUA = """
local prefix = ARGV[1]
local data = ARGV[2]
local at = 1
local n = #data
local out = {}
local r = 0
while at < n do
  local value, ttl, len, after = struct.unpack('<i8i8I4', data, at)
  local key = prefix .. string.sub(data, after, after + len - 1)
  at = after + len
  r = r + 1
  local text = string.format('%.0f', value)
  local px = string.format('%.0f', ttl)
  local prev = redis.call('SET', key, text, 'NX', 'GET', 'PX', px)
  if prev == 'r' then
    redis.call('SET', key, text, 'PX', px)
  end
  if prev then out[r] = prev else out[r] = '' end
end
return table.concat(out, ',')
"""

SET_FIRST_SEEN = ScriptHandle(SET_FIRST_SEEN_LUA)
_ENTRY = struct.Struct("<qqI")


def queue_set_first_seen(
    pipe: Pipeline,
    prefix: str,
    keys: Sequence[str],
    values: Sequence[int],
    ttls_ms: Sequence[int],
) -> None:
    """Queue `SET prefix+key value NX GET PX ttl` for every key; `prefix` ends with the hash tag
    part shared by all keys (e.g. "dn:dedupe:{orders}:exact:")."""
    pack = _ENTRY.pack
    parts: list[bytes] = []
    for key, value, ttl in zip(keys, values, ttls_ms, strict=True):
        encoded = key.encode()
        parts.append(pack(value, ttl, len(encoded)))
        parts.append(encoded)
    SET_FIRST_SEEN.queue(pipe, [prefix], [prefix, b"".join(parts)])


# Same layout as above without the ttl. A key that still holds our value becomes the release
# tombstone 'r' (keeping its TTL): the retry, on any instance, is then first-seen and skips the
# late summary, which already holds the released sighting.
RELEASE_FIRST_SEEN_LUA = """
local prefix = ARGV[1]
local data = ARGV[2]
local at = 1
local n = #data
local released = 0
while at < n do
  local value, len, after = struct.unpack('<i8I4', data, at)
  local key = prefix .. string.sub(data, after, after + len - 1)
  at = after + len
  if redis.call('GET', key) == string.format('%.0f', value) then
    redis.call('SET', key, 'r', 'KEEPTTL')
    released = released + 1
  end
end
return released
"""

RELEASE_FIRST_SEEN = ScriptHandle(RELEASE_FIRST_SEEN_LUA)
_RELEASE_ENTRY = struct.Struct("<qI")


def queue_release(pipe: Pipeline, prefix: str, entries: Sequence[tuple[str, int]]) -> None:
    pack = _RELEASE_ENTRY.pack
    parts: list[bytes] = []
    for key, value in entries:
        encoded = key.encode()
        parts.append(pack(value, len(encoded)))
        parts.append(encoded)
    RELEASE_FIRST_SEEN.queue(pipe, [prefix], [prefix, b"".join(parts)])


RELEASED = -1
"""Parsed value of a release tombstone: the key is first-seen again, not a late duplicate."""


def parse_first_seen(raw: bytes) -> list[int | None]:
    """Earlier first-seen value per key, None where this call was first, RELEASED if the
    earlier sighting was released."""
    return [
        (RELEASED if value == b"r" else int(value)) if value else None for value in raw.split(b",")
    ]


@dataclass(frozen=True, slots=True)
class PendingFirstSeen:
    prefix: str
    key: str
    value: int
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class PendingBloomAdd:
    target: str  # "window" or "late"
    source: str
    key: bytes
    at_ms: int


class CatchUpQueue:
    """First-seen writes that could not reach Redis; bounded, oldest dropped first."""

    def __init__(self, max_items: int = 1_000_000) -> None:
        self.first_seen: deque[PendingFirstSeen] = deque()
        self.bloom_adds: deque[PendingBloomAdd] = deque()
        self.max_items = max_items
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.first_seen) + len(self.bloom_adds)

    def add_first_seen(self, item: PendingFirstSeen) -> None:
        self.first_seen.append(item)
        self._bound()

    def add_bloom(self, item: PendingBloomAdd) -> None:
        self.bloom_adds.append(item)
        self._bound()

    def _bound(self) -> None:
        while len(self) > self.max_items:
            if self.first_seen:
                self.first_seen.popleft()
            else:
                self.bloom_adds.popleft()
            self.dropped += 1

    def take(self) -> tuple[list[PendingFirstSeen], list[PendingBloomAdd]]:
        first_seen, bloom_adds = list(self.first_seen), list(self.bloom_adds)
        self.first_seen.clear()
        self.bloom_adds.clear()
        return first_seen, bloom_adds

    def restore(self, first_seen: list[PendingFirstSeen], bloom: list[PendingBloomAdd]) -> None:
        """Put items back (at the front) after a failed catch-up attempt."""
        self.first_seen.extendleft(reversed(first_seen))
        self.bloom_adds.extendleft(reversed(bloom))
        self._bound()


def queue_catch_up(
    pipe: Pipeline,
    first_seen: list[PendingFirstSeen],
    bloom_adds: list[PendingBloomAdd],
    now_ms: int,
    filters_for: Callable[[str], SourceFilters],
) -> int:
    """Queue the replay of an outage's first-seen writes; returns the number of commands."""
    queued = 0
    by_prefix: dict[str, list[PendingFirstSeen]] = defaultdict(list)
    for item in first_seen:
        if item.expires_at_ms > now_ms:
            by_prefix[item.prefix].append(item)
    for prefix, group in by_prefix.items():
        queue_set_first_seen(
            pipe,
            prefix,
            [item.key for item in group],
            [item.value for item in group],
            [item.expires_at_ms - now_ms for item in group],
        )
        queued += 1
    by_slice: dict[tuple[str, str, int], list[bytes]] = defaultdict(list)
    plans: dict[tuple[str, str], SlicePlan] = {}  # one filter lookup per source, not per key
    for add in bloom_adds:
        plan = plans.get((add.target, add.source))
        if plan is None:
            filters = filters_for(add.source)
            bloom = filters.window if add.target == "window" else filters.late
            assert bloom is not None
            plan = plans[(add.target, add.source)] = bloom.plan
        by_slice[(add.target, add.source, plan.slice_id(add.at_ms))].append(add.key)
    for (target, source, slice_id), keys in by_slice.items():
        filters = filters_for(source)
        bloom = filters.window if target == "window" else filters.late
        assert bloom is not None
        if slice_id in bloom.plan.live_slice_ids(now_ms):
            bloom.queue_add(pipe, keys, slice_id, now_ms)
            queued += 1
    return queued
