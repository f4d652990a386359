"""Quix Streams side of bench/windows.py; runs inside the Quix venv (it pins an older
confluent-kafka), never imported by the project.

    python bench/windows_quix.py BOOTSTRAP TOPIC EXPECTED tumbling|sliding SIZE_MS STEP_MS GRACE_MS

Counts per message key (the group key) in a tumbling or hopping ("sliding") window on message
timestamps and prints one JSON line: {"mode", "records", "seconds", "records_per_s", "closed"}.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from typing import Any

from quixstreams import Application


def main() -> None:
    bootstrap, topic_name, expected_s, mode, size_s, step_s, grace_s = sys.argv[1:8]
    expected, size_ms, step_ms, grace_ms = int(expected_s), int(size_s), int(step_s), int(grace_s)
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"quix-bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        state_dir=tempfile.mkdtemp(prefix="quix-state-"),
        consumer_extra_config={"session.timeout.ms": 6000},
    )
    topic = app.topic(topic_name, value_deserializer="json", key_deserializer="str")
    sdf = app.dataframe(topic)
    progress: dict[str, Any] = {"seen": 0, "first": None, "last": None, "closed": 0}

    def count_input(value: Any) -> None:
        now = time.perf_counter()
        if progress["first"] is None:
            progress["first"] = now
        progress["seen"] += 1
        if progress["seen"] >= expected:
            progress["last"] = now
            app.stop()

    def count_closed(value: Any) -> None:
        progress["closed"] += 1

    sdf = sdf.update(count_input)
    if mode == "tumbling":
        windowed = sdf.tumbling_window(size_ms, grace_ms=grace_ms)
    else:
        windowed = sdf.hopping_window(size_ms, step_ms, grace_ms=grace_ms)
    sdf = windowed.count().final()
    sdf = sdf.update(count_closed)
    app.run(sdf)
    seconds = (progress["last"] or time.perf_counter()) - (progress["first"] or 0.0)
    print(
        json.dumps(
            {
                "mode": mode,
                "records": progress["seen"],
                "seconds": seconds,
                "records_per_s": progress["seen"] / seconds if seconds > 0 else 0.0,
                "closed": progress["closed"],
            }
        )
    )


if __name__ == "__main__":
    main()
