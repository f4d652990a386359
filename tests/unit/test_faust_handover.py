"""The inline hand-over that replaces faust's ``wait_first`` per message (app/faust_handover.py)."""

from __future__ import annotations

import asyncio

import pytest

from app.faust_handover import (
    BUFFERED_POLL_S,
    FETCH_TIMEOUT_S,
    fetch_timeout,
    hand_over,
    refetch,
)


async def put_all(queue: asyncio.Queue[int], items: list[int]) -> str:
    for item in items:
        await queue.put(item)
    return "done"


async def test_a_hand_over_that_need_not_wait_creates_no_task() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=2)
    before = len(asyncio.all_tasks())
    assert await hand_over(put_all(queue, [1, 2]), asyncio.Event(), asyncio.Event())
    assert len(asyncio.all_tasks()) == before
    assert [queue.get_nowait(), queue.get_nowait()] == [1, 2]


async def test_a_blocked_hand_over_finishes_once_the_buffer_drains() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)

    async def consume_later() -> list[int]:
        await asyncio.sleep(0.01)
        got = [queue.get_nowait()]
        await asyncio.sleep(0.01)
        got.append(queue.get_nowait())
        return got

    consumer = asyncio.ensure_future(consume_later())
    assert await hand_over(put_all(queue, [1, 2]), asyncio.Event(), asyncio.Event())
    assert await consumer == [0, 1]
    assert queue.get_nowait() == 2


async def test_a_suspension_while_blocked_reports_the_message_as_not_handed_over() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)
    suspended = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, suspended.set)
    assert not await hand_over(put_all(queue, [1]), suspended, asyncio.Event())
    await asyncio.sleep(0.02)  # the cancelled put must not land later
    assert queue.qsize() == 1 and queue.get_nowait() == 0


async def test_stopping_while_blocked_also_ends_the_hand_over() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)
    stopped = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, stopped.set)
    assert not await hand_over(put_all(queue, [1]), asyncio.Event(), stopped)


async def test_errors_of_the_callback_propagate_on_both_paths() -> None:
    async def fails_at_once() -> None:
        raise ValueError("bad record")

    async def fails_after_waiting() -> None:
        await asyncio.sleep(0.001)
        raise KeyError("late")

    with pytest.raises(ValueError, match="bad record"):
        await hand_over(fails_at_once(), asyncio.Event(), asyncio.Event())
    with pytest.raises(KeyError):
        await hand_over(fails_after_waiting(), asyncio.Event(), asyncio.Event())


async def test_a_resumed_callback_sees_awaited_results_and_bare_yields() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    seen: list[object] = []

    async def callback() -> None:
        await asyncio.sleep(0)  # a bare yield
        seen.append(await future)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    loop.call_later(0.005, future.set_result, 7)
    suspended = asyncio.Event()
    loop.call_later(0.02, suspended.set)
    assert not await hand_over(callback(), suspended, asyncio.Event())
    await asyncio.sleep(0)
    assert seen == [7, "cancelled"]


async def test_an_awaitable_that_is_not_a_coroutine_is_handed_over_too() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.set_result(1)
    assert await hand_over(future, asyncio.Event(), asyncio.Event())


def test_fetches_wait_the_stock_second_while_no_stream_buffer_is_full() -> None:
    assert fetch_timeout(set(), None) == FETCH_TIMEOUT_S == 1.0


def test_fetches_wait_briefly_while_a_full_buffer_holds_partitions_back() -> None:
    # the held-back partitions come back as soon as their stream drains: a fetch waiting on the
    # idle ones must not hold them off for a second
    assert fetch_timeout({"raw-0"}, {"commands-0", "tasks-3"}) == BUFFERED_POLL_S
    assert BUFFERED_POLL_S <= 0.02


def test_with_every_partition_held_back_nothing_is_fetched() -> None:
    # stock faust sleeps a full second here; the loop pauses BUFFERED_POLL_S and looks again
    assert fetch_timeout({"raw-0", "raw-1"}, set()) is None


class SeekingConsumer:
    """The two members of a faust consumer that ``refetch`` uses."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sought: list[dict[str, int]] = []
        self._read_offset: dict[str, int | None] = {"raw-0": 1200}

    async def seek_wait(self, partitions: dict[str, int]) -> None:
        if self.fail:
            raise RuntimeError("No current assignment for partition raw-0")
        self.sought.append(partitions)
        self._read_offset.update(partitions)  # as faust's _seek_wait does


async def test_a_jump_is_fetched_again_from_the_read_offset() -> None:
    consumer = SeekingConsumer()
    assert await refetch(consumer, "raw-0", 1200, 1416)
    # from 1200 itself: after a seek to the committed offsets it names the next record
    assert consumer.sought == [{"raw-0": 1200}]
    # the record at 1200 must not look like a gap or a replay when it comes back
    assert consumer._read_offset["raw-0"] == 1199


async def test_a_seek_that_fails_leaves_the_partition_to_the_rebalance() -> None:
    consumer = SeekingConsumer(fail=True)
    assert not await refetch(consumer, "raw-0", 1200, 1416)
    assert consumer._read_offset["raw-0"] == 1200
