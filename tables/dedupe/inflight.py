"""Bloom additions on their way to Redis, kept visible to the lookups that run meanwhile.

The stream stage adds a batch's keys to the Bloom filters only once its output was acknowledged
(an addition cannot be undone), and that round trip used to hold the stage's lock: measured here
about a third of a Bloom-mode batch's time on the critical path. It now runs in the background;
until it has landed, its window keys are held here and the next batches' lookups count them as
seen, exactly as they would once the bits are set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from tables.dedupe.redis_mirror import PendingBloomAdd

log = logging.getLogger(__name__)


class InFlightBloomAdds:
    def __init__(self) -> None:
        self._window_keys: dict[str, set[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def holds(self, source: str, key: bytes) -> bool:
        keys = self._window_keys.get(source)
        return keys is not None and key in keys

    def start(self, adds: Sequence[PendingBloomAdd], apply: Callable[[], Awaitable[None]]) -> None:
        """Run ``apply`` (which adds ``adds``) in the background, holding the window keys."""
        by_source: dict[str, set[bytes]] = {}
        for add in adds:
            if add.target == "window":
                by_source.setdefault(add.source, set()).add(add.key)
        for source, keys in by_source.items():
            self._window_keys.setdefault(source, set()).update(keys)
        task = asyncio.ensure_future(self._run(apply, by_source))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, apply: Callable[[], Awaitable[None]], by_source: dict[str, set[bytes]]
    ) -> None:
        try:
            await apply()
        except Exception:  # apply_bloom_adds falls back to local filters; anything else is a bug
            log.exception("adding %d keys to the Bloom filters failed", len(by_source))
        finally:
            for source, keys in by_source.items():
                self._window_keys[source].difference_update(keys)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for every addition started so far (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
