"""EventBatcher acks batches in dispatch order, whatever order their handlers finish in.

faust-streaming commits the first contiguous run of acked offsets and does not always check that
it starts at the committed offset, so an out-of-order ack could commit past records in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agents.batching import EventBatcher


class ListStream:
    """The slice of a Faust stream that EventBatcher uses, over a fixed list of events."""

    def __init__(self, events: list[int], gate: asyncio.Event | None = None) -> None:
        self.items = events
        self.acked: list[int] = []
        self.gate = gate  # the stream ends only once it is set (keeps batches in flight)

    def noack(self) -> ListStream:
        return self

    async def __aiter__(self) -> AsyncIterator[int]:
        for item in self.items:
            self.current_event: int | None = item
            yield item
        if self.gate is not None:
            await self.gate.wait()

    async def ack(self, event: int) -> bool:
        self.acked.append(event)
        return True


async def test_a_batch_that_finishes_first_waits_for_the_earlier_ones_before_acking() -> None:
    stream = ListStream(list(range(9)))
    finished: list[int] = []

    async def handler(batch: Sequence[Any]) -> None:
        # the first batch is the slowest, the last the fastest
        await asyncio.sleep(0.03 * (3 - batch[0] // 3))
        finished.append(batch[0])

    await EventBatcher(stream, handler, max_size=3, within_s=10).run()
    assert finished == [6, 3, 0]  # handlers did finish out of order
    assert stream.acked == list(range(9))


async def test_no_later_batch_is_acked_after_an_earlier_one_was_cancelled() -> None:
    gate = asyncio.Event()
    stream = ListStream(list(range(6)), gate)
    first: list[asyncio.Task[Any]] = []
    second_done = asyncio.Event()

    async def handler(batch: Sequence[Any]) -> None:
        if batch[0] == 0:
            first.append(asyncio.current_task())  # type: ignore[arg-type]
            await asyncio.sleep(3600)  # never finishes: cancelled below
        second_done.set()

    runner = asyncio.create_task(EventBatcher(stream, handler, max_size=3, within_s=10).run())
    await asyncio.wait_for(second_done.wait(), 1)
    first[0].cancel()
    gate.set()
    await asyncio.wait_for(runner, 1)
    assert stream.acked == []
