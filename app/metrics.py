"""Prometheus metrics owned by the foundation (ingest and agent lag).

Label values that come from users (``source``) are capped so a producer sending random sources
cannot blow up the series count; the overflow is reported as ``source="other"``.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

MAX_SOURCE_LABELS = 200
UNKNOWN_SOURCE = "unknown"
OTHER_SOURCE = "other"

INGEST_RECORDS = Counter(
    "datanexus_ingest_records",
    "Records seen by ingest, by path (http|kafka), source and result (accepted|rejected).",
    ["path", "source", "result"],
)
INGEST_REJECTED = Counter(
    "datanexus_ingest_rejected",
    "Rejected records by path and reason.",
    ["path", "reason"],
)
INGEST_BATCH_SECONDS = Histogram(
    "datanexus_ingest_batch_seconds",
    "Time to validate and get a whole ingest batch acknowledged by the broker.",
    ["path"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AGENT_LAG = Gauge(
    "datanexus_agent_lag",
    "Records not yet processed per topic partition (end offset - last read offset). On the "
    "embedded dev broker end offsets can be wrong after multi-record batches: approximate there.",
    ["topic", "partition"],
)


class SourceLabels:
    """Maps user-supplied source names to a bounded set of label values."""

    def __init__(self, limit: int = MAX_SOURCE_LABELS) -> None:
        self._limit = limit
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def label(self, source: str | None) -> str:
        if source is None:
            return UNKNOWN_SOURCE
        if source in self._known:
            return source
        with self._lock:
            if len(self._known) < self._limit:
                self._known.add(source)
                return source
        return OTHER_SOURCE


SOURCE_LABELS = SourceLabels()


def count_batch(path: str, accepted: Mapping[str, int], rejected: Mapping[str, int]) -> None:
    """One metric update per label set per batch, not per record."""
    for source, n in accepted.items():
        INGEST_RECORDS.labels(path, source, "accepted").inc(n)
    total_rejected = 0
    for reason, n in rejected.items():
        INGEST_REJECTED.labels(path, reason).inc(n)
        total_rejected += n
    if total_rejected:
        INGEST_RECORDS.labels(path, UNKNOWN_SOURCE, "rejected").inc(total_rejected)


def tally_sources(sources: list[str | None]) -> Tally[str]:
    """Counts raw values first (a C loop), then maps the few distinct ones to labels."""
    label = SOURCE_LABELS.label
    tally: Tally[str] = Tally()
    for source, n in Tally(sources).items():
        tally[label(source)] += n
    return tally
