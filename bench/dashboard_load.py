"""Bulk loader for the dashboard bench: minute-window aggregates written as sorted SST files.

The per-record path (``RocksAggregateStore.put_many``) builds a ``WindowAggregate`` and encodes it
one by one (~280k windows/s here). This loader writes the very same bytes much faster:

* keys are ``seek_key(metric, start) + group key`` — exactly ``encode_key`` (checked below) —
  built once per minute and appended to pre-encoded group keys, in sorted order (start, then key
  bytes), so they can go straight into an ``SstFileWriter`` (no memtable, no compaction);
* values come from ``encode_value`` itself: the bench's value only depends on the window end and
  a click count in 0..40, so each minute encodes 41 values and every key picks one;
* one SST per metric, ingested into the store's RocksDB in one call (non-overlapping files go
  straight to the bottom level).
"""

from __future__ import annotations

import collections
import random
from dataclasses import dataclass
from pathlib import Path

from rocksdict import Options, Rdict, SstFileWriter

from tables.aggstore import RocksAggregateStore, WindowAggregate
from tables.aggstore.keys import encode_key, seek_key
from tables.aggstore.rocks import encode_value

MIN = 60_000
DAY = 1440 * MIN
CLICK_VALUES = 41  # clicks per window: 0..40


def group_key(k: int) -> str:
    """Group key of key index ``k``: dimensions region|device plus a unique suffix."""
    return f"r{k % 4}|d{k % 5}|{k}"


def window_values(clicks: int) -> dict[str, float]:
    return {"clicks.count": clicks, "amount.sum": clicks * 2.5, "amount.count": clicks}


@dataclass(frozen=True)
class LoadPlan:
    """What to load: ``full`` metrics (the ones the dashboard reads) get ``days`` of history,
    the rest ``other_days``; every metric has ``keys`` group keys with a window each minute."""

    metrics: int
    keys: int
    days: int
    full_metrics: int
    other_days: int

    def days_of(self, metric_index: int) -> int:
        return self.days if metric_index < self.full_metrics else self.other_days

    @property
    def windows(self) -> int:
        return sum(self.keys * self.days_of(m) * 1440 for m in range(self.metrics))

    def describe(self) -> str:
        full = f"{self.full_metrics} metrics read by the dashboard x {self.keys:,} keys x "
        full += f"{self.days} d"
        rest = self.metrics - self.full_metrics
        if not rest:
            return full
        if self.other_days == 0:
            return full + f"; the other {rest} metrics are not loaded"
        return full + f" + {rest} other metrics x {self.keys:,} keys x {self.other_days} d"


def open_store(path: Path, retention_ms: int) -> RocksAggregateStore:
    db = Rdict(str(path), options=Options(raw_mode=True))
    return RocksAggregateStore(db=db, retention_ms=retention_ms)


def _write_metric_sst(path: Path, metric: str, first_ms: int, minutes: int, keys: int) -> int:
    rng = random.Random(f"7:{metric}")
    suffixes = sorted(group_key(k).encode() for k in range(keys))
    writer = SstFileWriter(options=Options(raw_mode=True))
    writer.open(str(path))
    put = writer.__setitem__
    sink = collections.deque(maxlen=0).extend
    check = encode_key(metric, first_ms, suffixes[0].decode())
    assert seek_key(metric, first_ms) + suffixes[0] == check, "key layout drifted from keys.py"
    for start in range(first_ms, first_ms + minutes * MIN, MIN):
        encoded = [
            encode_value(WindowAggregate(metric, "", start, start + MIN, window_values(c), True))
            for c in range(CLICK_VALUES)
        ]
        by_byte = [encoded[b % CLICK_VALUES] for b in range(256)]
        base = seek_key(metric, start)
        sink(map(put, map(base.__add__, suffixes), map(by_byte.__getitem__, rng.randbytes(keys))))
    writer.finish()
    return minutes * keys


def load(store: RocksAggregateStore, plan: LoadPlan, now_ms: int, scratch: Path) -> int:
    """Write ``plan`` into ``store`` (which must be opened by ``open_store``); returns windows."""
    end = now_ms - now_ms % MIN
    scratch.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    total = 0
    for m in range(plan.metrics):
        days = plan.days_of(m)
        if not days:
            continue
        path = scratch / f"m{m}.sst"
        total += _write_metric_sst(path, f"m{m}", end - days * DAY, days * 1440, plan.keys)
        files.append(str(path))
    db: Rdict = store._db  # bulk ingestion bypasses put_many: a bench-only shortcut
    db.ingest_external_file(files)
    for name in files:
        Path(name).unlink(missing_ok=True)
    _check_round_trip(store, end - MIN)
    return total


def _check_round_trip(store: RocksAggregateStore, start_ms: int) -> None:
    """The loaded bytes decode through the store's own read path like a normal write."""
    [first, *_] = list(store.range("m0", start_ms, start_ms + MIN))
    clicks = int(first.aggregates["clicks.count"])
    expected = WindowAggregate(
        "m0", first.key, start_ms, start_ms + MIN, window_values(clicks), True
    )
    assert first == expected, (first, expected)
