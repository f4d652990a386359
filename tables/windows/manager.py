"""WindowStateManager: the one place that keeps window aggregates in a store.

Per partition it tracks the watermark (max event time - max_out_of_orderness), applies the
late-data policy, closes windows when the watermark reaches end + grace, emits results and deletes
closed state. Everything it needs after a restart (watermark, windows, expiry index) is in the
store (layout in :mod:`tables.windows.layout`); nothing depends on the wall clock.

Events carrying their input offset (``Event.offset >= 0``) that are at or below the partition's
last processed offset are skipped, so a batch replayed after a crash (Faust commits offsets
after the state writes) is not counted twice.

Lateness is decided per event against the watermark before that event; emission happens once per
batch (one ``updated`` result per changed window in ``on_update`` mode, one ``closed`` result per
window that closed), so results do not depend on how events are batched except for how many
intermediate updates are emitted. Under ``update`` a closed window is kept until
end + grace + allowed_lateness and re-emitted (revision + 1) when a late event changes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from tables.types import KeyValueStore
from tables.windows.aggregations import Aggregation, make_aggregation
from tables.windows.expiry import ExpiryIndex
from tables.windows.layout import (
    BUCKETS,
    DIRTY,
    END,
    FINAL,
    FIRST_AGG,
    INDEXED_AT,
    KEY_ORDINAL,
    LAST_OFFSET,
    MAX_TS,
    ORDINAL,
    REVISION,
    START,
    STATUS,
    T_MAX,
    T_MIN,
    WATERMARK,
    WINDOWS,
    group_prefix,
    meta_key,
)
from tables.windows.results import BatchResult, LateRecord, WindowResult
from tables.windows.spec import ALL_FIELDS, WindowSpec
from tables.windows.store_batch import StoreBatch
from tables.windows.types import (
    NO_WATERMARK,
    Clock,
    EmitMode,
    Event,
    LatePolicy,
    LateReason,
    Window,
    WindowType,
)

Getter = Callable[[Mapping[str, Any]], Any]


def field_getter(path: str) -> Getter:
    """Getter for a (dotted) payload path; None when any step is missing."""
    parts = path.split(".")
    if len(parts) == 1:
        name = parts[0]
        return lambda value: value.get(name)

    def get(value: Any) -> Any:
        for part in parts:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    return get


class WindowStateManager:
    def __init__(
        self, spec: WindowSpec, store: KeyValueStore, window_type: WindowType | None = None
    ) -> None:
        self.spec = spec
        self.store = store
        self.window_type = window_type or spec.window_type()
        self._grace = spec.grace
        self._retain = spec.allowed_lateness if spec.late is LatePolicy.UPDATE else 0
        self._group_getters = [field_getter(p) for p in spec.group_by]
        self._aggs: list[Aggregation] = []
        self._labels: list[tuple[str, str]] = []
        plan: list[tuple[Getter | None, list[tuple[int, Aggregation]]]] = []
        for path, kinds in spec.aggregate:
            slots = []
            for kind in kinds:
                agg = make_aggregation(kind)
                slots.append((FIRST_AGG + len(self._aggs), agg))
                self._aggs.append(agg)
                self._labels.append((path, kind.value))
            needs_value = path != ALL_FIELDS and any(a.reads_value for _, a in slots)
            plan.append((field_getter(path) if needs_value else None, slots))
        self._plan = plan
        # window types that keep the default close time (end + grace) skip a call per window
        self._plain_close = type(self.window_type).close_time is WindowType.close_time
        self._codec = any(type(a).encode is not Aggregation.encode for a in self._aggs)

    # ------------------------------------------------------------------ batch processing
    def process_batch(self, partition: int, events: Sequence[Event]) -> BatchResult:
        spec, wt = self.spec, self.window_type
        if not events:  # nothing moves the watermark: no state to touch
            return BatchResult(watermark=self.watermark(partition))
        batch = StoreBatch(self.store)
        mkey = meta_key(spec.name, partition)
        meta = batch.get(mkey) or [NO_WATERMARK, NO_WATERMARK, 0, [], -1]
        watermark, max_ts, ordinal = meta[WATERMARK], meta[MAX_TS], meta[ORDINAL]
        last_offset = start_offset = meta[LAST_OFFSET]
        ooo = spec.max_out_of_orderness
        prefix = group_prefix(spec.name, partition)
        keys: dict[str, list[Any]] = {}
        result = BatchResult()
        grace, retain = self._grace, self._retain
        update = spec.late is LatePolicy.UPDATE
        event_time = wt.clock is Clock.EVENT_TIME
        merging = wt.merges
        assign = wt.assign
        group_getters = self._group_getters
        dumps = orjson.dumps
        for event in events:
            offset = event.offset
            if offset >= 0:
                if offset <= start_offset:  # replayed after a restart: already in the state
                    result.replayed += 1
                    continue
                if offset > last_offset:
                    last_offset = offset
            ts = event.timestamp
            value = event.value
            group = dumps([g(value) for g in group_getters]).decode() if group_getters else "[]"
            state = keys.get(group)
            if state is None:
                state = self._load(batch, prefix + group)
                keys[group] = state
            windows: list[list[Any]] = state[WINDOWS]
            if not event_time:
                n = state[KEY_ORDINAL]
                state[KEY_ORDINAL] = n + 1
                for w in assign(n, ()).windows:
                    self._apply(self._window_state(windows, w), value, ts, ordinal)
            elif merging:
                live = [
                    Window(s[START], s[END]) for s in windows if s[END] + grace + retain > watermark
                ]
                assignment = assign(ts, live)
                target = assignment.windows[0]
                close = target[1] + grace
                if close <= watermark and not (update and close + retain > watermark):
                    self._late(result, group, event, watermark)
                else:
                    if close <= watermark:
                        result.late_updates += 1
                    ws = self._merge_into(windows, target, assignment.replaced)
                    self._apply(ws, value, ts, ordinal)
            else:
                missed = accepted_late = False
                for w in assign(ts, ()).windows:
                    close = w[1] + grace
                    if close <= watermark:
                        if not (update and close + retain > watermark):
                            missed = True
                            continue
                        accepted_late = True
                    self._apply(self._window_state(windows, w), value, ts, ordinal)
                if missed:
                    self._late(result, group, event, watermark)
                elif accepted_late:
                    result.late_updates += 1
            ordinal += 1
            if ts > max_ts:
                max_ts = ts
                if ts - ooo > watermark:
                    watermark = ts - ooo
        if result.replayed == len(events):
            result.watermark = watermark
            return result
        meta[WATERMARK], meta[MAX_TS], meta[ORDINAL] = watermark, max_ts, ordinal
        meta[LAST_OFFSET] = last_offset
        index = ExpiryIndex(batch, spec.name, partition, wt.index_bucket_width(), meta[BUCKETS])
        for group, state in keys.items():
            self._settle(result, index, group, state, watermark)
        if event_time:
            for due, group in index.pop_due(watermark):
                state = keys.get(group)
                if state is None:
                    state = self._load(batch, prefix + group)
                    keys[group] = state
                if state[INDEXED_AT] != due or not state[WINDOWS]:
                    continue
                state[INDEXED_AT] = None
                self._settle(result, index, group, state, watermark)
        for group, state in keys.items():
            skey = prefix + group
            if state[WINDOWS]:
                batch.put(skey, self._encode(state))
            elif state[INDEXED_AT] is not None or batch.get(skey) is not None:
                batch.delete(skey)
        meta[BUCKETS] = index.stored_form()
        # written last: a persisted offset implies the batch's other writes before it persisted
        batch.put(mkey, meta)
        result.store_writes = batch.flush()
        result.watermark = watermark
        return result

    # ------------------------------------------------------------------ per event
    def _apply(self, ws: list[Any], value: Mapping[str, Any], ts: int, ordinal: int) -> None:
        ws[STATUS] |= DIRTY
        if ts < ws[T_MIN]:
            ws[T_MIN] = ts
        if ts > ws[T_MAX]:
            ws[T_MAX] = ts
        for getter, slots in self._plan:
            v = getter(value) if getter is not None else None
            for i, agg in slots:
                ws[i] = agg.add(ws[i], v, ts, ordinal)

    def _new_window(self, window: Window) -> list[Any]:
        ws: list[Any] = [window[0], window[1], 0, 0, 2**62, -(2**62)]
        ws.extend(a.initial() for a in self._aggs)
        return ws

    def _window_state(self, windows: list[list[Any]], window: Window) -> list[Any]:
        start = window[0]
        for i in range(len(windows) - 1, -1, -1):
            s = windows[i][START]
            if s == start:
                return windows[i]
            if s < start:
                ws = self._new_window(window)
                windows.insert(i + 1, ws)
                return ws
        ws = self._new_window(window)
        windows.insert(0, ws)
        return ws

    def _merge_into(
        self, windows: list[list[Any]], target: Window, replaced: Sequence[Window]
    ) -> list[Any]:
        if len(replaced) == 1:  # the common case: the event extends (or falls in) one session
            start = replaced[0][0]
            for ws in windows:
                if ws[START] == start:
                    ws[START], ws[END], ws[STATUS] = target[0], target[1], 0
                    return ws
        ws = self._new_window(target)
        gone = {w[0] for w in replaced}
        for old in [s for s in windows if s[START] in gone]:
            windows.remove(old)
            ws[REVISION] = max(ws[REVISION], old[REVISION])
            ws[T_MIN] = min(ws[T_MIN], old[T_MIN])
            ws[T_MAX] = max(ws[T_MAX], old[T_MAX])
            for i, agg in enumerate(self._aggs, FIRST_AGG):
                ws[i] = agg.merge(ws[i], old[i])
        windows.append(ws)
        windows.sort(key=lambda s: s[START])
        return ws

    def _late(self, result: BatchResult, group: str, event: Event, watermark: int) -> None:
        policy = self.spec.late
        if policy is LatePolicy.SIDE_OUTPUT:
            result.late.append(
                LateRecord(
                    self.spec.name, orjson.loads(group), event, LateReason.WINDOW_CLOSED, watermark
                )
            )
        else:
            result.dropped += 1

    # ------------------------------------------------------------------ batch end
    def _settle(
        self,
        result: BatchResult,
        index: ExpiryIndex,
        group: str,
        state: list[Any],
        watermark: int,
    ) -> None:
        """Emit changed/closed windows of one key, purge expired ones, re-index the key."""
        wt, grace, retain = self.window_type, self._grace, self._retain
        plain_close = self._plain_close
        event_time = wt.clock is Clock.EVENT_TIME
        clock = watermark if event_time else state[KEY_ORDINAL]
        on_update = self.spec.emit is EmitMode.ON_UPDATE
        keep: list[list[Any]] = []
        next_due: int | None = None
        for ws in state[WINDOWS]:
            status = ws[STATUS]
            close = (
                ws[END] + grace if plain_close else wt.close_time(Window(ws[START], ws[END]), grace)
            )
            if close <= clock:
                if status & DIRTY or not status & FINAL:
                    result.closed.append(self._result(group, ws, final=True))
                if not event_time or close + retain <= clock:
                    continue
                ws[STATUS] = FINAL
                due = close + retain
            else:
                if status & DIRTY and on_update:
                    result.updated.append(self._result(group, ws, final=False))
                ws[STATUS] = status & FINAL
                due = close
            keep.append(ws)
            if next_due is None or due < next_due:
                next_due = due
        state[WINDOWS] = keep
        if event_time and next_due is not None:
            indexed = state[INDEXED_AT]
            if indexed is None or next_due < indexed:
                index.add(next_due, group)
                state[INDEXED_AT] = next_due

    def _result(self, group: str, ws: list[Any], final: bool) -> WindowResult:
        revision = ws[REVISION]
        ws[REVISION] = revision + 1
        aggregates: dict[str, dict[str, Any]] = {}
        for (path, kind), agg, state in zip(self._labels, self._aggs, ws[FIRST_AGG:], strict=True):
            aggregates.setdefault(path, {})[kind] = agg.result(state)
        if self.window_type.clock is Clock.EVENT_TIME:
            start, end = ws[START], ws[END]
        else:
            start, end = ws[T_MIN], ws[T_MAX]
        return WindowResult(
            self.spec.name, orjson.loads(group), start, end, aggregates, final, revision
        )

    # ------------------------------------------------------------------ (de)serialisation
    def _load(self, batch: StoreBatch, key: str) -> list[Any]:
        stored = batch.get(key)
        if stored is None:
            return [None, 0, []]
        if not self._codec:
            # window lists are updated in place: the whole key state is written back this batch
            return [stored[0], stored[1], stored[2]]
        windows = []
        for ws in stored[2]:
            decoded = list(ws[:FIRST_AGG])
            decoded.extend(a.decode(s) for a, s in zip(self._aggs, ws[FIRST_AGG:], strict=True))
            windows.append(decoded)
        return [stored[0], stored[1], windows]

    def _encode(self, state: list[Any]) -> list[Any]:
        if not self._codec:
            return state
        windows = []
        for ws in state[WINDOWS]:
            encoded = list(ws[:FIRST_AGG])
            encoded.extend(a.encode(s) for a, s in zip(self._aggs, ws[FIRST_AGG:], strict=True))
            windows.append(encoded)
        return [state[0], state[1], windows]

    # ------------------------------------------------------------------ introspection
    def stored_window_count(self, partition: int) -> int:
        """Windows held for a partition (reads every key of the partition: tests/ops only)."""
        prefix = group_prefix(self.spec.name, partition)
        return sum(
            len(self.store.get(k)[WINDOWS]) for k in list(self.store) if k.startswith(prefix)
        )

    def watermark(self, partition: int) -> int:
        meta = self.store.get(meta_key(self.spec.name, partition))
        return NO_WATERMARK if meta is None else int(meta[WATERMARK])
