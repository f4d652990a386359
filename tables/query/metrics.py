"""Query-engine metrics: Prometheus collectors plus plain counters for ``GET /v1/query/stats``.

Cache hits and misses count *blocks* (a query over 24 blocks with 20 cached = 20 hits, 4 misses).
``resumed_blocks``: misses that only re-read a block's tail after a partial invalidation;
``refreshed_blocks``: open blocks re-read in the background shortly before their TTL ran out;
``tail_reads``: reads of the live edge answered by ``LiveTail`` instead of the store.
Each engine registers on its own ``CollectorRegistry`` unless one is passed in (the app passes
``prometheus_client.REGISTRY`` once), so several engines can live in one process (tests, bench).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class QueryMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, prefix: str = "datanexus_query"):
        self.registry = registry if registry is not None else CollectorRegistry()
        self.counts: dict[str, int] = {
            "queries": 0,
            "errors": 0,
            "cache_hits": 0,
            "cache_misses": 0,
            "coalesced_queries": 0,
            "merged_batches": 0,
            "merged_queries": 0,
            "backend_fetches": 0,
            "tail_reads": 0,
            "records_read": 0,
            "invalidations": 0,
            "invalidated_blocks": 0,
            "resumed_blocks": 0,
            "refreshed_blocks": 0,
        }
        reg = self.registry
        self._counters = {
            name: Counter(f"{prefix}_{name}", f"Query engine {name}", registry=reg)
            for name in self.counts
        }
        self._hit_ratio = Gauge(
            f"{prefix}_cache_hit_ratio", "Cached blocks / blocks looked up", registry=reg
        )
        self.latency = Histogram(
            f"{prefix}_latency_seconds",
            "Query latency (validation to result)",
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )

    def inc(self, name: str, amount: int = 1) -> None:
        if amount:
            self.counts[name] += amount
            self._counters[name].inc(amount)
            if name in ("cache_hits", "cache_misses"):
                self._hit_ratio.set(self.hit_ratio)

    @property
    def hit_ratio(self) -> float:
        looked_up = self.counts["cache_hits"] + self.counts["cache_misses"]
        return self.counts["cache_hits"] / looked_up if looked_up else 0.0

    def snapshot(self) -> dict[str, Any]:
        return {**self.counts, "cache_hit_ratio": round(self.hit_ratio, 4)}
