"""Serde metrics (exposed by the app's prometheus endpoint)."""

from __future__ import annotations

from prometheus_client import Counter

JSON_FALLBACK = Counter(
    "datanexus_serde_json_fallback_total",
    "Records written as plain JSON because the subject has no protobuf schema.",
    ["subject"],
)
