"""Faust's consumer hand-over (``Consumer._drain_messages``), fixed and made cheaper.

faust-streaming 0.15.3 hands every fetched message to the conductor with
``wait_first(callback(message), suspend_flow.wait())``. Two problems:

* **Lost records.** When a rebalance suspends the flow while a hand-over is blocked (a stream
  buffer is full), ``wait_first`` cancels the hand-over, yet the message's offset is still marked
  read and the loop goes on with the rest of the fetched batch. Records after it can be acked
  while it never was, and ``_new_offset`` lets a commit pass one unacked offset at the head
  (``min(acked) - committed > 1``): the record is gone.
* **Cost.** ``wait_first`` creates four tasks and an ``asyncio.wait`` per message, a large share
  of the ~70 us Faust spends per event.

The replacement hands a message over by running the callback coroutine inline: it almost always
finishes without suspending (buffer not full), and then no task is created at all. Only a
hand-over that must wait becomes a task, raced against the flow suspension and the consumer
stopping. If it loses, the message is not marked read and the rest of the fetched batch is
dropped unread; the seek to the committed offsets that ends every rebalance fetches them again.
Two more changes to the stock loop: fetches stop waiting out their full timeout while a stream
buffer is full (:func:`fetch_timeout`), and a jump in a partition's offsets is fetched again
before it is taken for a gap (:func:`refetch`). Everything else (periodic commits, error handling)
is the stock loop.

Install it together with app/faust_seek.py: a faster hand-over fills the stream buffers during
recovery's final seek sooner, and without that fix a partition with no commit yet lost the
records the buffers held (1,100-3,400 records in about 8 of 55 kill -9 runs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine, Generator
from collections.abc import Set as AbstractSet
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING, Consumer

log = logging.getLogger(__name__)
YIELD_EVERY = 100
FETCH_TIMEOUT_S = 1.0
BUFFERED_POLL_S = 0.01
_STOCK_DRAIN = Consumer._drain_messages


class _Resume:
    """Drives a coroutine that suspended on ``pending`` to its end, as a Task would."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, None, Any]:
        coro, pending = self.coro, self.pending
        while True:
            try:
                yield pending  # a Future (or None for a bare yield): the running Task waits on it
            except asyncio.CancelledError as exc:
                # A cancelled future reaches the coroutine through its result(); anything else
                # (cancelled at a bare yield) is thrown in, as a Task would.
                if not (isinstance(pending, asyncio.Future) and pending.cancelled()):
                    try:
                        pending = coro.throw(exc)
                    except StopIteration as stop:
                        return stop.value
                    continue
            except GeneratorExit:
                coro.close()
                raise
            try:
                pending = coro.send(None)  # the coroutine reads the future's result itself
            except StopIteration as stop:
                return stop.value


async def _finish(coro: Coroutine[Any, Any, Any], pending: Any) -> Any:
    return await _Resume(coro, pending)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


async def hand_over(
    coro: Coroutine[Any, Any, Any] | Awaitable[Any],
    suspended: asyncio.Event,
    stopped: asyncio.Event,
) -> bool:
    """Run ``coro`` to its end; False if the flow was suspended (or stopped) first."""
    if not asyncio.iscoroutine(coro):  # any other awaitable: drive it through a coroutine
        coro = _await(coro)
    try:
        pending = coro.send(None)
    except StopIteration:
        return True
    task = asyncio.ensure_future(_finish(coro, pending))
    guards = [asyncio.ensure_future(suspended.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait([task, *guards], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for guard in guards:
            guard.cancel()
    if task.done():
        task.result()  # propagate the callback's errors, as the stock loop does
        return True
    task.cancel()
    return False


def fetch_timeout(buffered: AbstractSet[Any], active: AbstractSet[Any] | None) -> float | None:
    """How long the next fetch may wait for records; None: nothing to fetch, pause briefly.

    A stream whose buffer fills takes its partitions out of the fetch (``buffered``) until it
    drains. A fetch already waiting on the remaining (``active``) partitions does not see them
    come back: stock faust waits out its 1 s timeout there, or sleeps 1 s when no partition is
    left, and the drained stream starves meanwhile. Beside idle partitions (every worker has
    them: pipeline commands, connector tasks) the ingest agent ran at 11.9k records/s on 0.44 of
    a core; with fetches waiting at most ``BUFFERED_POLL_S`` while any partition is held back,
    24.4k on a full core. The drain loop applies it only while no rebalance or recovery is under
    way (see :func:`refetch` for why).
    """
    if not buffered:
        return FETCH_TIMEOUT_S
    return BUFFERED_POLL_S if active else None


async def refetch(consumer: Any, tp: Any, read_offset: int, offset: int) -> bool:
    """Seek ``tp`` back to ``read_offset``: the records up to ``offset`` were fetched but never
    handed over.

    Faust drops fetched records without a seek on several paths (a partition that left the
    active set between the fetch and the hand-over, a fetch that raced a rebalance), and stock
    ``_drain_messages`` then records the jump as a gap, which ``_new_offset`` treats as acked:
    the next commit passes records no stream ever saw. Measured here: window restart tests lost
    hundreds to thousands of records that way (a gap of 4,549 offsets in one partition), most
    of them handed over during recovery's final seek; since app/faust_seek.py stops the flow
    there, this has not fired in 32 restart runs and stays as a guard. A gap that is still
    there after the re-fetch is real (compaction, transaction markers) and is then recorded as
    faust does. False when the seek failed (the partition was revoked meanwhile): the
    rebalance's own seek takes over.
    """
    log.warning(
        "%s: offsets %d-%d were fetched but never handed over; fetching them again",
        tp,
        read_offset + 1,
        offset - 1,
    )
    # From read_offset itself: after a seek to the committed offsets faust's read offset names
    # the next record, not the last one read. At worst one record is handed over twice.
    try:
        await consumer.seek_wait({tp: read_offset})
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("%s: seeking back to %d failed (%r)", tp, read_offset, exc)
        return False
    consumer._read_offset[tp] = read_offset - 1 or None
    return True


async def _drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover - needs a broker
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    suspend_flow: asyncio.Event = self.suspend_flow
    stopped: asyncio.Event = self._stopped
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    app = self.app
    since_yield = 0
    refetched: dict[Any, int] = {}  # partition -> the offset its last re-fetch jumped to
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            buffered = self._buffered_partitions
            if buffered and (not self.flow_active or app.rebalancing or app.in_recovery):
                buffered = frozenset()  # a rebalance drops what a fetch returns: wait as faust
            timeout = fetch_timeout(buffered, self._get_active_partitions() if buffered else None)
            if timeout is None:
                await asyncio.sleep(BUFFERED_POLL_S)
                continue
            set_flag(CONSUMER_FETCHING)
            ait = getmany(timeout=timeout)
            await self.sleep(0)
            if not self.should_stop:
                refetching: set[Any] = set()  # partitions sought back in this batch
                async for tp, message in ait:
                    since_yield += 1
                    if since_yield > YIELD_EVERY:
                        await asyncio.sleep(0)
                        since_yield = 0
                    if tp in refetching:
                        continue  # read again from where the gap began
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is not None and offset < r_offset:
                        continue  # fetched before a seek back; read again from there
                    gap = offset - (r_offset or 0)
                    if gap > 1 and r_offset and acks_enabled_for(message.topic):
                        if refetched.pop(tp, None) != offset:
                            if not await refetch(self, tp, r_offset, offset):
                                await ait.aclose()
                                break
                            refetched[tp] = offset
                            refetching.add(tp)
                            continue
                        await self._add_gap(tp, r_offset + 1, offset)  # there twice: real
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if suspend_flow.is_set() or not await hand_over(
                        callback(message), suspend_flow, stopped
                    ):
                        # A rebalance began: this message and the rest of the batch are not
                        # marked read; the seek that ends the rebalance fetches them again.
                        await ait.aclose()
                        break
                    set_read_offset(tp, offset)
                unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)


def install() -> None:
    """Swap the hand-over in (idempotent); every Faust consumer in the process uses it."""
    if Consumer._drain_messages is not _drain_messages:
        Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
        log.debug("faust consumer hand-over replaced (app/faust_handover.py)")


def uninstall() -> None:
    """Back to faust's own loop (benchmarks compare the two)."""
    Consumer._drain_messages = _STOCK_DRAIN  # type: ignore[method-assign]
