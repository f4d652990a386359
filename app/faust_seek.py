"""The seek that ends a rebalance: run with the flow stopped, and made to rewind stream
partitions that have no commit yet.

faust-streaming 0.15.3's recovery ends a rebalance by resuming the stream partitions, awaiting
``Consumer.perform_seek`` (seek to the committed offsets) and then calling
``flow_control.resume()``, which empties every stream buffer. The fetcher is already running
during that await (recovery started it to read the changelogs), so stream records fetched in
the meantime reach the buffers and are then thrown away. A partition with a committed offset is
rewound by the seek and reads them again (but see below). A partition with none is not: aiokafka's
``seek_to_committed`` only seeks to offsets above 0. Seen here: a worker that restarted after a
kill -9 in the first seconds of a stream, before its first commit, skipped 1,100-3,400 records.
Its fetcher had moved past them and no seek brought it back.

This seek also rewinds such partitions to where a group without a commit starts reading
(``auto_offset_reset``), and stops the flow while it runs (see :func:`seek_to_committed`: records
handed over during the seek were lost even where a commit existed). Emptied records are
fetched again; one already taken from a buffer may be processed twice, as at-least-once allows.
Only ``Consumer.perform_seek`` calls ``seek_to_committed``, so wrapping it leaves faust's read
and committed offset bookkeeping as is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from faust.transport.consumer import ThreadDelegateConsumer

log = logging.getLogger(__name__)
_STOCK_SEEK_TO_COMMITTED = ThreadDelegateConsumer.seek_to_committed


def partitions_to_rewind(
    committed: Mapping[Any, int | None],
    is_stream: Callable[[Any], bool],
    auto_offset_reset: str,
) -> list[Any]:
    """Stream partitions the committed-offset seek leaves where the fetcher happens to be.

    Committed 0 means "from the start"; no commit means ``auto_offset_reset``, and only
    "earliest" names a position to go back to ("latest" starts at the live end anyway).
    """
    return [
        tp
        for tp, offset in committed.items()
        if is_stream(tp) and (offset == 0 or (offset is None and auto_offset_reset == "earliest"))
    ]


async def seek_to_committed(self: Any) -> Mapping[Any, int | None]:
    """The stock seek, then back to the start for stream partitions it left where they were.

    The flow stays stopped through the seek. Recovery resumes it when it starts reading the
    changelogs, before this seek, so without the stop the stream partitions (resumed just before
    the call) kept being handed over while the seek ran, about 0.5 s here: their records passed
    their read offsets, the seek then set those back to the committed offsets and the buffers
    were emptied. Records the streams had not taken yet were gone while the fetcher went on past
    them (the windowed kill -9 test lost records in 3 of 6 runs). Both callers in recovery
    resume the flow right after the seek; faust's other caller runs it with the flow stopped.
    """
    stopped_here = bool(self.flow_active)
    if stopped_here:
        self.stop_flow()
    try:
        committed: Mapping[Any, int | None] = await _STOCK_SEEK_TO_COMMITTED(self)
    except BaseException:
        if stopped_here:
            self.resume_flow()
        raise
    app = self.app

    def is_stream(tp: Any) -> bool:
        return not self._is_changelog_tp(tp) and bool(app.topics.acks_enabled_for(tp.topic))

    rewind = partitions_to_rewind(committed, is_stream, app.conf.consumer_auto_offset_reset)
    if rewind:
        log.info("rewinding %d stream partition(s) with no committed offset", len(rewind))
        await self._thread.seek_to_beginning(*rewind)
    return committed


def install() -> None:
    """Swap the seek in (idempotent); every Faust consumer in the process uses it."""
    if ThreadDelegateConsumer.seek_to_committed is not seek_to_committed:
        ThreadDelegateConsumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    ThreadDelegateConsumer.seek_to_committed = _STOCK_SEEK_TO_COMMITTED  # type: ignore[method-assign]
