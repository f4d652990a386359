"""Prometheus metrics of the window pipelines, labelled by window spec name."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WINDOW_RECORDS = Counter(
    "datanexus_window_records",
    "Input records handled per window pipeline and stage (repartition|window).",
    ["window", "stage"],
)
WINDOW_RESULTS = Counter(
    "datanexus_window_results",
    "Window results emitted, by result (updated: on_update change, closed: final result).",
    ["window", "result"],
)
WINDOW_LATE = Counter(
    "datanexus_window_late",
    "Late records by outcome (side_output, dropped, updated: accepted into a closed window).",
    ["window", "outcome"],
)
WINDOW_SKIPPED = Counter(
    "datanexus_window_skipped",
    "Records not applied: replayed (already in the state), duplicate (re-repartitioned after a "
    "restart), undecodable (not a JSON object or no usable event time).",
    ["window", "reason"],
)
WINDOW_WATERMARK = Gauge(
    "datanexus_window_watermark_ms",
    "Event-time watermark per window pipeline and input partition (epoch ms).",
    ["window", "partition"],
)
