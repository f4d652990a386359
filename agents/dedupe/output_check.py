"""After a crash, which ids of an unacknowledged batch did reach the output topic anyway?

A batch's output may have landed although its acknowledgement never arrived. Its entries sit
above the forwarded marker; the marker records where the output topic ended when it was written,
so reading the output from there to its end (until a fetch returns nothing: the embedded broker's
end offsets are not trusted) tells which of those ids were forwarded. Runs only on replays.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from confluent_kafka import Consumer, TopicPartition

IDLE_S = 0.5
TIMEOUT_S = 30.0


def forwarded_ids(
    bootstrap: str, topic: str, start: Mapping[int, int], wanted: set[bytes]
) -> set[bytes]:
    """Keys in `wanted` found in `topic` from the offsets in `start` (0 for other partitions)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"dn-output-check-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    found: set[bytes] = set()
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in partitions])
        deadline = time.monotonic() + TIMEOUT_S
        last_data = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_data < IDLE_S:
            batch = consumer.consume(10_000, timeout=0.1)
            for message in batch:
                if message.error() is None and message.key() in wanted:
                    found.add(message.key())  # type: ignore[arg-type]
            if batch:
                last_data = time.monotonic()
    finally:
        consumer.close()
    return found
