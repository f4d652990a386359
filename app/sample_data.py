"""A realistic sample stream for ``datanexus produce`` and the benchmarks: clickstream events with a
share of duplicates (same id re-sent, as at-least-once upstreams do) and of malformed records."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

import orjson

PAGES = ["/", "/pricing", "/docs", "/blog", "/signup", "/login", "/checkout", "/product/42"]
ACTIONS = ["view", "click", "scroll", "add_to_cart", "purchase"]
SOURCES = ["web", "ios", "android"]
MALFORMED = [
    b"{not json",
    orjson.dumps({"source": "web", "payload": {"page": "/"}}),  # no id
    orjson.dumps({"id": 42, "payload": {}}),  # id not a string
    orjson.dumps({"id": "bad-time", "event_time": "yesterday"}),
    orjson.dumps({"id": "bad-payload", "payload": [1, 2, 3]}),
]


def clickstream(
    count: int,
    duplicate_ratio: float = 0.05,
    malformed_ratio: float = 0.01,
    seed: int | None = None,
) -> Iterator[tuple[bytes | None, bytes]]:
    """Yield (key, value) pairs; keys are record ids, as producers to the raw topic send them."""
    rng = random.Random(seed)
    recent: list[tuple[bytes, bytes]] = []
    run = uuid.uuid4().hex[:8]
    for n in range(count):
        roll = rng.random()
        if roll < malformed_ratio:
            yield None, rng.choice(MALFORMED)
            continue
        if roll < malformed_ratio + duplicate_ratio and recent:
            yield rng.choice(recent)
            continue
        record_id = f"{run}-{n}"
        action = rng.choice(ACTIONS)
        value = orjson.dumps(
            {
                "id": record_id,
                "source": rng.choice(SOURCES),
                "event_time": int(time.time() * 1000) - rng.randint(0, 5000),
                "payload": {
                    "user_id": f"u{rng.randint(1, 5000)}",
                    "session_id": f"s{rng.randint(1, 20000)}",
                    "page": rng.choice(PAGES),
                    "action": action,
                    "amount": round(rng.uniform(5, 250), 2) if action == "purchase" else 0,
                    "trace_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                },
            }
        )
        pair = (record_id.encode(), value)
        recent.append(pair)
        if len(recent) > 1000:
            recent.pop(0)
        yield pair
