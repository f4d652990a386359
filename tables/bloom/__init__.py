"""Bloom filters: sizing, double hashing, time-sliced filters in Redis bitmaps or in process."""

from tables.bloom.hashing import hash128, hash_pair, positions
from tables.bloom.local_sliced import LocalSlicedBloom
from tables.bloom.redis_sliced import RedisSlicedBloom, server_has_redisbloom
from tables.bloom.sizing import BloomSizing, optimal_bits_per_key
from tables.bloom.slices import SlicePlan
from tables.bloom.types import SlicedBloomFilter

__all__ = [
    "BloomSizing",
    "LocalSlicedBloom",
    "RedisSlicedBloom",
    "SlicePlan",
    "SlicedBloomFilter",
    "hash128",
    "hash_pair",
    "optimal_bits_per_key",
    "positions",
    "server_has_redisbloom",
]
