"""Time-sliced Bloom filter in plain Redis bitmaps, one Lua call per batch.

Works on any Redis (no RedisBloom needed). Slice keys carry their own PEXPIRE, so entries
need no per-key TTL: a whole slice disappears once it can no longer overlap the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError, ResponseError

from tables.bloom.hashing import digests
from tables.bloom.slices import SlicePlan

# Shared head of both scripts: `base_hashes(data, at, m)` reads one key's digest at `at` and
# returns h1, h2 reduced modulo m (h2 never 0) and the next offset.
_BASE_HASHES_LUA = """
local call = redis.call
local unpack_pair = struct.unpack
local function base_hashes(data, at, m)
  local a, b, after = unpack_pair('<I4I4', data, at)
  b = b % m
  if b == 0 then
    b = 1
  end
  return a % m, b, after
end
"""

# KEYS: live slice keys, newest (current) first. ARGV: bits, hashes, ttl of current slice,
# add flag, then each key's 8-byte digest: raw h1, h2 as little-endian uint32 (hashing.py), which
# the script reduces modulo bits. Returns one string with
# '1' (seen) / '0' (new) per key. Packed arguments and a single bulk reply keep the client-side
# cost (redis-py packs and parses in Python) per batch instead of per key. A new key's bits are
# set in KEYS[1] (one BITFIELD call) before the next key is tested, catching batch repeats.
CHECK_AND_ADD_LUA = (
    _BASE_HASHES_LUA
    + """
local m = tonumber(ARGV[1])
local k = tonumber(ARGV[2])
local ttl = ARGV[3]
local add = ARGV[4] == '1'
local current = KEYS[1]
local slices = {}
for s = 1, #KEYS do  -- a missing slice holds nothing: probe only those that exist
  if (s == 1 and add) or call('EXISTS', KEYS[s]) == 1 then
    slices[#slices + 1] = KEYS[s]
  end
end
local nslices = #slices
local out = {}
local ops = {}
for i = 1, k do
  ops[4 * i - 3] = 'SET'
  ops[4 * i - 2] = 'u1'
  ops[4 * i] = 1
end
local added = false
local r = 0
local data = ARGV[5]
local at = 1
local n = #data
while at < n do
  local a, b, after = base_hashes(data, at, m)
  at = after
  r = r + 1
  local seen = '0'
  for s = 1, nslices do
    local key = slices[s]
    local pos = a
    local all = true
    for _ = 1, k do
      if call('GETBIT', key, pos) == 0 then
        all = false
        break
      end
      pos = (pos + b) % m
    end
    if all then
      seen = '1'
      break
    end
  end
  out[r] = seen
  if seen == '0' and add then
    local pos = a
    for i = 1, k do
      ops[4 * i - 1] = pos
      pos = (pos + b) % m
    end
    call('BITFIELD', current, unpack(ops))
    added = true
  end
end
if added then
  call('PEXPIRE', current, ttl)
end
return table.concat(out)
"""
)

# KEYS: the one slice to add to. ARGV: bits, hashes, ttl, then the keys' digests as above.
# Sets every key's bits without testing them first (a set bit stays set, so the bitmap is the
# same as check-and-add leaves it), many keys per BITFIELD call: an added key costs its SET
# operations only, not a Redis call of its own. Returns the number of keys added.
ADD_LUA = (
    _BASE_HASHES_LUA
    + """
local m = tonumber(ARGV[1])
local k = tonumber(ARGV[2])
local key = KEYS[1]
local data = ARGV[4]
local ops = {}
local o = 0
local added = 0
local at = 1
local n = #data
while at < n do
  local a, b, after = base_hashes(data, at, m)
  at = after
  added = added + 1
  local pos = a
  for _ = 1, k do
    ops[o + 1] = 'SET'
    ops[o + 2] = 'u1'
    ops[o + 3] = pos
    ops[o + 4] = 1
    o = o + 4
    pos = (pos + b) % m
  end
  if o >= 4000 then  -- well under Lua's limit on values unpacked into one call
    call('BITFIELD', key, unpack(ops, 1, o))
    o = 0
  end
end
if o > 0 then
  call('BITFIELD', key, unpack(ops, 1, o))
end
if added > 0 then
  call('PEXPIRE', key, ARGV[3])
end
return added
"""
)


class ScriptHandle:
    """A Lua script called by EVALSHA inside pipelines without redis-py's per-execute
    SCRIPT EXISTS round trip; reloaded once on NOSCRIPT (e.g. after a server restart)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha: str | None = None

    async def ensure_loaded(self, client: Redis) -> str:
        if self.sha is None:
            self.sha = str(await client.script_load(self.source))
        return self.sha

    def queue(self, pipe: Pipeline, keys: Sequence[str], args: Sequence[Any]) -> None:
        if self.sha is None:
            raise RuntimeError("script not loaded; call ensure_loaded first")
        pipe.evalsha(self.sha, len(keys), *keys, *args)


async def execute_pipeline(client: Redis, scripts: Sequence[ScriptHandle], build: Any) -> list[Any]:
    """Run `build(pipe)` in one non-transactional pipeline (one round trip); on NOSCRIPT,
    reload the scripts and retry once."""
    for attempt in range(2):
        for script in scripts:
            await script.ensure_loaded(client)
        pipe = client.pipeline(transaction=False)
        build(pipe)
        try:
            return list(await pipe.execute())
        except NoScriptError:
            if attempt:
                raise
            for script in scripts:
                script.sha = None
    raise AssertionError("unreachable")


_CHECK_AND_ADD = ScriptHandle(CHECK_AND_ADD_LUA)
_ADD = ScriptHandle(ADD_LUA)


async def server_has_redisbloom(client: Redis) -> bool:
    """True when MODULE LIST shows RedisBloom ("bf" / "ReBloom"; also Redis 8 built-ins)."""
    try:
        modules = await client.module_list()
    except ResponseError:
        return False
    names = set()
    for module in modules:
        name = module.get(b"name", module.get("name", b""))
        names.add(name.decode() if isinstance(name, bytes) else str(name))
    return bool({"bf", "ReBloom", "rebloom"} & names)


class RedisSlicedBloom:
    """Time-sliced Bloom filter for one name (e.g. one source), bitmaps under `key_prefix`."""

    script = _CHECK_AND_ADD
    add_script = _ADD
    scripts = (_CHECK_AND_ADD, _ADD)

    def __init__(self, client: Redis, key_prefix: str, plan: SlicePlan) -> None:
        self.client = client
        self.key_prefix = key_prefix
        self.plan = plan

    def slice_key(self, slice_id: int) -> str:
        return f"{self.key_prefix}:{slice_id}"

    def queue_check_and_add(
        self, pipe: Pipeline, keys: Sequence[bytes], now_ms: int, add: bool = True
    ) -> None:
        """Queue the batch on a pipeline shared with other work (still one round trip)."""
        self.queue_for_slices(pipe, keys, self.plan.live_slice_ids(now_ms), now_ms, add)

    def queue_for_slices(
        self,
        pipe: Pipeline,
        keys: Sequence[bytes],
        slice_ids: Sequence[int],
        now_ms: int,
        add: bool = True,
    ) -> None:
        sizing = self.plan.sizing
        args: list[int | str | bytes] = [
            sizing.bits,
            sizing.hashes,
            self.plan.ttl_ms(slice_ids[0], now_ms),
            "1" if add else "0",
            digests(keys),
        ]
        self.script.queue(pipe, [self.slice_key(s) for s in slice_ids], args)

    def queue_add(self, pipe: Pipeline, keys: Sequence[bytes], slice_id: int, now_ms: int) -> None:
        """Queue adding keys to one slice, no lookup (deferred adds, outage catch-up)."""
        sizing = self.plan.sizing
        args = [sizing.bits, sizing.hashes, self.plan.ttl_ms(slice_id, now_ms)]
        self.add_script.queue(pipe, [self.slice_key(slice_id)], [*args, digests(keys)])

    @staticmethod
    def parse(raw: bytes) -> list[bool]:
        return [flag == 49 for flag in raw]  # b"1"

    async def check_and_add(self, keys: Sequence[bytes], now_ms: int) -> list[bool]:
        if not keys:
            return []
        results = await execute_pipeline(
            self.client,
            [self.script],
            lambda pipe: self.queue_check_and_add(pipe, keys, now_ms),
        )
        return self.parse(results[0])

    async def contains(self, keys: Sequence[bytes], now_ms: int) -> list[bool]:
        """Check only (nothing added): for measuring the false-positive rate."""
        if not keys:
            return []
        results = await execute_pipeline(
            self.client,
            [self.script],
            lambda pipe: self.queue_check_and_add(pipe, keys, now_ms, add=False),
        )
        return self.parse(results[0])

    async def add_at(self, keys: Sequence[bytes], at_ms: int, now_ms: int) -> None:
        """Add keys to the slice of an earlier time (mirror catch-up after an outage)."""
        slice_id = self.plan.slice_id(at_ms)
        if not keys or slice_id < self.plan.slice_id(now_ms - self.plan.window_ms):
            return
        await execute_pipeline(
            self.client,
            self.scripts,
            lambda pipe: self.queue_add(pipe, keys, slice_id, now_ms),
        )

    async def fill_ratios(self, now_ms: int) -> list[float]:
        pipe = self.client.pipeline(transaction=False)
        for slice_id in self.plan.live_slice_ids(now_ms):
            pipe.bitcount(self.slice_key(slice_id))
        counts = await pipe.execute()
        return [int(count) / self.plan.sizing.bits for count in counts]

    async def memory_bits(self, now_ms: int) -> int:
        """Bits actually allocated in Redis for the live slices (STRLEN * 8)."""
        pipe = self.client.pipeline(transaction=False)
        for slice_id in self.plan.live_slice_ids(now_ms):
            pipe.strlen(self.slice_key(slice_id))
        return sum(int(length) * 8 for length in await pipe.execute())

    async def clear(self, now_ms: int) -> None:
        keys = [self.slice_key(s) for s in self.plan.live_slice_ids(now_ms)]
        await self.client.delete(*keys)
