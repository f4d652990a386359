"""Reads that reach every worker: local store + the stores of the other workers, merged.

Each worker stores the window results of the output-topic partitions its aggregate-store consumer
group gave it (agents/query/store_feed.py), so a range read must ask the other workers too. Who
they are comes from Faust's own partition assignment (``app.router.external_topics_metadata()``:
worker web URL -> topic -> partitions), not from a home-made membership list: every worker is a
member of both groups. Every worker that holds a partition of any topic is asked, not only the
current owners of the metric's topic: after a rebalance the previous owner still holds the
history of a partition it gave away (the store is local, not a changelogged table).

The merge keeps store order (window start, group key), so cached and uncached answers stay
identical; a window present on two workers (moved partition) keeps the final copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from tables.aggstore.types import AggregateStore, WindowAggregate
from tables.query.batching import RangeBatcher
from tables.query.engine import EngineConfig, QueryEngine
from tables.query.metrics import QueryMetrics
from tables.query.models import MetricCatalog

log = logging.getLogger(__name__)

WINDOWS_PATH = "/v1/query/windows"
PeerUrls = Callable[[], list[str]]
HeaderSource = Callable[[], Mapping[str, str]]


class PeerUnavailable(RuntimeError):
    """A worker holding part of the data did not answer: the answer would be incomplete."""


def encode_windows(records: Iterable[WindowAggregate]) -> bytes:
    """Body of ``POST /v1/query/windows``: ``[[key, start, end, aggregates, final], ...]``."""
    return orjson.dumps([[r.key, r.start_ms, r.end_ms, r.aggregates, r.final] for r in records])


def decode_windows(metric: str, body: bytes) -> list[WindowAggregate]:
    rows: list[list[Any]] = orjson.loads(body)
    return [WindowAggregate(metric, k, s, e, a, f) for k, s, e, a, f in rows]


def merge_reads(reads: Sequence[list[WindowAggregate]]) -> list[WindowAggregate]:
    """Union in store order; of two copies of one window the final one (else the first) wins."""
    if len(reads) == 1:
        return reads[0]
    chosen: dict[tuple[int, str], WindowAggregate] = {}
    for records in reads:
        for record in records:
            ident = (record.start_ms, record.key)
            held = chosen.get(ident)
            if held is None or (record.final and not held.final):
                chosen[ident] = record
    return [chosen[ident] for ident in sorted(chosen)]


def peer_urls_from_assignment(app: Any) -> list[str]:
    """Web URLs of the other workers that hold partitions, from the Faust partition assignor."""
    try:
        distribution: Mapping[str, Any] = app.router.external_topics_metadata()
    except (AttributeError, KeyError):
        return []
    own = str(app.conf.canonical_url).rstrip("/")
    return sorted(
        url.rstrip("/") for url, topics in distribution.items() if url.rstrip("/") != own and topics
    )


class PeerClient:
    """Fetches a worker's local windows of a range over HTTP."""

    def __init__(self, timeout_s: float, headers: HeaderSource = dict) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.headers = headers
        """Extra headers per request (the views forward the caller's Authorization)."""
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, url: str, metric: str, from_ms: int, to_ms: int) -> list[WindowAggregate]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = orjson.dumps({"metric": metric, "from": from_ms, "to": to_ms})
        headers = {"Content-Type": "application/json", **self.headers()}
        try:
            async with self._session.post(url + WINDOWS_PATH, data=body, headers=headers) as resp:
                payload = await resp.read()
                if resp.status != 200:
                    raise PeerUnavailable(f"worker {url} answered {resp.status}: {payload[:200]!r}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PeerUnavailable(f"worker {url} did not answer: {exc}") from exc
        return decode_windows(metric, payload)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ClusterRangeBatcher(RangeBatcher):
    """A ``RangeBatcher`` whose one backend fetch reads the local store and every peer at once."""

    def __init__(
        self,
        store: AggregateStore,
        metrics: QueryMetrics,
        peers: PeerUrls,
        client: PeerClient,
        **options: Any,
    ) -> None:
        super().__init__(store, metrics, **options)
        self._peers = peers
        self._client = client

    async def _read(self, metric: str, lo: int, hi: int) -> list[WindowAggregate]:
        peers = self._peers()
        if not peers:
            return await super()._read(metric, lo, hi)
        remote = asyncio.gather(*(self._client.fetch(url, metric, lo, hi) for url in peers))
        local = await super()._read(metric, lo, hi)
        return merge_reads([local, *await remote])


class ClusterQueryEngine(QueryEngine):
    """A ``QueryEngine`` whose store reads reach every worker holding partitions."""

    def __init__(
        self,
        store: AggregateStore,
        catalog: MetricCatalog,
        config: EngineConfig,
        *,
        peers: PeerUrls,
        client: PeerClient,
        **options: Any,
    ) -> None:
        super().__init__(store, catalog, config, **options)
        self._batcher = ClusterRangeBatcher(
            store,
            self.metrics,
            peers,
            client,
            enabled=config.batching,
            window_s=config.batch_window_ms / 1000,
            offload=config.offload_reads,
        )
