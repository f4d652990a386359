"""Aggregate store: closed/open window results laid out for time-range reads (see ``keys``)."""

from tables.aggstore.keys import decode_key, encode_key, metric_prefix, seek_key
from tables.aggstore.memory import InMemoryAggregateStore
from tables.aggstore.rocks import RocksAggregateStore
from tables.aggstore.types import AggregateStore, WindowAggregate

__all__ = [
    "AggregateStore",
    "InMemoryAggregateStore",
    "RocksAggregateStore",
    "WindowAggregate",
    "decode_key",
    "encode_key",
    "metric_prefix",
    "seek_key",
]
