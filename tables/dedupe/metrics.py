"""Prometheus metrics of the de-duplication stage, and the same numbers as JSON."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from tables.dedupe.types import DedupeResult


class DedupeMetrics:
    """One instance per process (per registry): Prometheus refuses duplicate metric names.

    dedupe ratio = (duplicate + late) / all records checked, per mode and source: the share
    of records recognised as repeats, whatever the late policy then does with them.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.records = Counter(
            "datanexus_dedupe_records",
            "Records checked by the de-duplication stage",
            ["mode", "source", "result"],
            registry=registry,
        )
        self.ratio = Gauge(
            "datanexus_dedupe_ratio",
            "Share of records recognised as duplicates (in or after the window)",
            ["mode", "source"],
            registry=registry,
        )
        self.bloom_fill = Gauge(
            "datanexus_bloom_fill_ratio",
            "Fraction of set bits in the current Bloom slice",
            ["source"],
            registry=registry,
        )
        self._counts: dict[tuple[str, str], dict[DedupeResult, int]] = defaultdict(
            lambda: dict.fromkeys(DedupeResult, 0)
        )

    def record(self, mode: str, source: str, counts: dict[DedupeResult, int]) -> None:
        totals = self._counts[(mode, source)]
        for result, count in counts.items():
            if count:
                self.records.labels(mode, source, result.value).inc(count)
                totals[result] += count
        seen = sum(totals.values())
        if seen:
            repeats = totals[DedupeResult.DUPLICATE] + totals[DedupeResult.LATE]
            self.ratio.labels(mode, source).set(repeats / seen)

    def set_bloom_fill(self, source: str, fill_ratio: float) -> None:
        self.bloom_fill.labels(source).set(fill_ratio)

    def counts_json(self) -> dict[str, dict[str, Any]]:
        """{source: {mode: {"unique": n, "duplicate": n, "late": n, "total": n, "ratio": r}}}"""
        out: dict[str, dict[str, Any]] = {}
        for (mode, source), totals in self._counts.items():
            total = sum(totals.values())
            repeats = totals[DedupeResult.DUPLICATE] + totals[DedupeResult.LATE]
            out.setdefault(source, {})[mode] = {
                **{result.value: count for result, count in totals.items()},
                "total": total,
                "dedupe_ratio": repeats / total if total else 0.0,
            }
        return out
