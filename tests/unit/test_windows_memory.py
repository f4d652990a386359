"""Memory stays bounded: 1M events over 200k windows; stored windows never exceed the windows
still open (end + grace above the watermark), and RSS stays flat after warm-up."""

from __future__ import annotations

import os
import random
from typing import Any

from tables.windows.manager import WindowStateManager
from tables.windows.spec import parse_window_spec
from tables.windows.types import Event

EVENTS = 1_000_000
KEYS = 1000
SPACING_US = 200  # one event every 0.2 ms -> 5 per key-second -> 200k one-second windows
BATCH = 2000
GRACE = 100
OUT_OF_ORDER = 50


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_one_million_events_over_200k_windows_stay_bounded() -> None:
    spec = parse_window_spec(
        {
            "name": "mem",
            "type": "tumbling",
            "size": "1s",
            "grace": GRACE,
            "max_out_of_orderness": OUT_OF_ORDER,
            "group_by": ["k"],
            "aggregate": {"*": ["count"], "v": ["sum", "max"]},
        }
    )
    store: dict[str, Any] = {}
    manager = WindowStateManager(spec, store)
    rng = random.Random(7)
    open_windows: dict[tuple[int, int], int] = {}  # (key, start) -> close time
    seen_windows = closed_windows = max_stored = 0
    rss_after_warmup = 0
    for first in range(0, EVENTS, BATCH):
        events = []
        for i in range(first, first + BATCH):
            ts = i * SPACING_US // 1000 + rng.randint(0, OUT_OF_ORDER)
            key = rng.randrange(KEYS)
            events.append(Event(ts, {"k": key, "v": i & 7}))
            window = (key, ts - ts % 1000)
            if window not in open_windows:
                open_windows[window] = window[1] + 1000 + GRACE
                seen_windows += 1
        result = manager.process_batch(0, events)
        closed_windows += len(result.closed)
        assert result.dropped == 0  # jitter never exceeds max_out_of_orderness
        watermark = manager.watermark(0)
        open_windows = {w: c for w, c in open_windows.items() if c > watermark}
        stored = manager.stored_window_count(0)
        assert stored <= len(open_windows)
        max_stored = max(max_stored, stored)
        assert len(store) <= len(open_windows) + 20  # key entries + meta + a few index chunks
        if first == 200_000:
            rss_after_warmup = _rss_bytes()
    assert seen_windows >= 195_000
    assert closed_windows == seen_windows - len(open_windows)
    assert max_stored <= 3 * KEYS
    growth = _rss_bytes() - rss_after_warmup
    print(f"max stored windows {max_stored}, RSS growth after warm-up {growth / 2**20:.2f} MiB")
    assert growth < 16 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB after warm-up"
