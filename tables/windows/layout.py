"""Store key layout of the window state (all keys ``str``; UTF-8 bytes in a raw-keyed table).

``{name}`` is the window spec name ([A-Za-z0-9_.-]), ``{p}`` the input partition in decimal.
``{group}`` is the canonical JSON list of the group-by values (``["web"]``; ``[]`` without
group_by) and always comes last, so any character in it is unambiguous. Values are JSON.

``w/{name}/{p}/m``  -- partition meta, one per partition::

    [watermark, max_event_ts, ordinal, [[bucket, n_chunks, last_chunk_len], ...], last_offset]

  ``watermark = max_event_ts - max_out_of_orderness`` (``NO_WATERMARK`` before any event);
  ``ordinal`` counts the partition's accepted-or-late events (ties of first/last); the list
  names the non-empty expiry-index buckets, sorted; ``last_offset`` is the highest input offset
  applied (-1: none). The meta is the last key written in a batch.

``w/{name}/{p}/k/{group}``  -- all live windows of one group key (one entry per key, not per
window: a batch writes each touched key once, and sessions find a key's windows without a scan)::

    [indexed_at, key_ordinal, [[start, end, revision, status, t_min, t_max, agg_0, ...], ...]]

  ``indexed_at`` is the due time of this key's live expiry-index entry (null if none);
  ``key_ordinal`` the key's event count (count windows); windows by start (sessions: any
  order); ``status``
  1 once the final result was emitted (kept only while late updates are allowed); ``t_min``/
  ``t_max`` the event-time bounds; ``agg_i`` the encoded aggregation states in spec order.

``w/{name}/{p}/x/{bucket}/{chunk}``  -- expiry index, append-only chunks of at most
``INDEX_CHUNK`` entries ``[due_time, group]``; bucket = due_time // bucket width. A key is due
when the watermark reaches its earliest close (or, after closing, purge) time. Entries whose
``due_time`` differs from the key's ``indexed_at`` are stale and skipped.
"""

from __future__ import annotations

INDEX_CHUNK = 512

# slots of a window state list
START, END, REVISION, STATUS, T_MIN, T_MAX = range(6)
FIRST_AGG = 6
# status bits: FINAL is stored; DIRTY only lives during a batch
FINAL = 1
DIRTY = 2
# slots of a key state list
INDEXED_AT, KEY_ORDINAL, WINDOWS = range(3)
# slots of the partition meta list
WATERMARK, MAX_TS, ORDINAL, BUCKETS, LAST_OFFSET = range(5)


def meta_key(name: str, partition: int) -> str:
    return f"w/{name}/{partition}/m"


def group_prefix(name: str, partition: int) -> str:
    return f"w/{name}/{partition}/k/"


def index_chunk_key(name: str, partition: int, bucket: int, chunk: int) -> str:
    return f"w/{name}/{partition}/x/{bucket}/{chunk}"
