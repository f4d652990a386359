"""Bloom filters: sizing, double hashing, time-sliced filters in Redis bitmaps or in process.

Memory: each slice is sized exactly for its own target (sizing.py, ~1.00x of -ln p/(ln 2)^2),
but a time-sliced filter as a whole needs (S+1)/S x (1 + ln(S+1)/ln(1/p)) times a static
filter's optimum (about 1.66x at p = 1%, at best): the price of expiring keys without per-key
state. slices.py explains the trade-off and picks S.
"""

from tables.bloom.hashing import hash_pair, positions
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
    "hash_pair",
    "optimal_bits_per_key",
    "positions",
    "server_has_redisbloom",
]
