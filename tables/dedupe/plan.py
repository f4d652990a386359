"""A batch's de-duplication plan: what local state decides by itself, and which keys still need
the shared state (Redis first-seen keys, Bloom filters). Building and reading a plan does no I/O;
the engine (tables/dedupe/engine.py) answers it with one Redis round trip, or locally."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from tables.dedupe.config import DedupeConfig, DedupeConfigRegistry, DedupeMode, WindowClock
from tables.dedupe.inflight import InFlightBloomAdds
from tables.dedupe.keys import fuzzy_key
from tables.dedupe.policy import action_for
from tables.dedupe.prefetch import BloomAnswers
from tables.dedupe.redis_mirror import PendingBloomAdd
from tables.dedupe.types import DedupeResult, DedupeState, Record, Verdict

NO_SOURCE = "_none"


@dataclass(slots=True)
class Candidate:
    """First occurrence in the batch of a key the local state does not hold within the window."""

    index: int
    source: str
    state_key: str
    key: str
    redis_prefix: str
    clock: int
    config: DedupeConfig
    local_late_age: int | None = None


@dataclass(slots=True)
class BatchPlan:
    verdicts: list[Verdict | None]
    candidates: list[Candidate] = field(default_factory=list)
    bloom_keys: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    late_keys: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    add: bool = True
    """False: Bloom filters are only checked; the caller adds after its output was acknowledged."""
    window_seen: dict[int, bool] = field(default_factory=dict)
    late_seen: dict[int, bool] = field(default_factory=dict)


def make_verdict(result: DedupeResult, config: DedupeConfig, reason: str, key: str) -> Verdict:
    return Verdict(result, action_for(result, config.late_policy), reason, key)


def plan_locally(
    records: Sequence[Record],
    now_ms: int,
    *,
    registry: DedupeConfigRegistry,
    state: DedupeState,
    in_flight: InFlightBloomAdds,
    key_prefix: str,
) -> BatchPlan:
    """Decide what local state can (off, repeats, local sightings, keys being added); the rest
    become candidates (exact/fuzzy) or Bloom keys for the shared state."""
    plan = BatchPlan(verdicts=[None] * len(records))
    first_in_batch: dict[str, tuple[int, int]] = {}
    for index, record in enumerate(records):
        source = record.get("source") or NO_SOURCE
        config = registry.for_source(record.get("source"))
        mode = config.mode
        if mode is DedupeMode.OFF:
            plan.verdicts[index] = make_verdict(DedupeResult.UNIQUE, config, "dedupe off", "")
            continue
        if mode is DedupeMode.BLOOM:
            key_bytes = record["id"].encode()
            repeat = f"{source}|bloom|{record['id']}"  # the script catches repeats only
            if repeat in first_in_batch:  # when it adds: without adding, catch them here
                reason = "repeat within batch"
                plan.verdicts[index] = make_verdict(
                    DedupeResult.DUPLICATE, config, reason, record["id"]
                )
                continue
            if in_flight.holds(source, key_bytes):
                reason = "probably seen within window (bloom, being added)"
                plan.verdicts[index] = make_verdict(
                    DedupeResult.DUPLICATE, config, reason, record["id"]
                )
                continue
            first_in_batch[repeat] = (index, now_ms)
            plan.bloom_keys.setdefault(source, []).append((index, key_bytes))
            plan.late_keys.setdefault(source, []).append((index, key_bytes))
            continue
        clock = now_ms if config.clock is WindowClock.RECEIVE_TIME else record["event_time"]
        if mode is DedupeMode.EXACT:
            key = record["id"]
        else:
            key = fuzzy_key(record["payload"], config.ignore_fields)
        state_key = f"{source}|{mode.value}|{key}"
        earlier = first_in_batch.get(state_key)
        if earlier is not None:
            result = DedupeResult.DUPLICATE
            if abs(clock - earlier[1]) > config.window_ms:
                result = DedupeResult.LATE
            plan.verdicts[index] = make_verdict(result, config, "repeat within batch", key)
            continue
        first_in_batch[state_key] = (index, clock)
        seen_at = state.get(state_key)
        if seen_at is not None and abs(clock - seen_at) <= config.window_ms:
            plan.verdicts[index] = make_verdict(
                DedupeResult.DUPLICATE, config, "seen within window (local state)", key
            )
            continue
        candidate = Candidate(
            index=index,
            source=source,
            state_key=state_key,
            key=key,
            redis_prefix=f"{key_prefix}:{{{source}}}:{mode.value}:",
            clock=clock,
            config=config,
        )
        if seen_at is not None and 0 < clock - seen_at <= config.late_horizon_ms:
            candidate.local_late_age = clock - seen_at
        plan.candidates.append(candidate)
        plan.late_keys.setdefault(source, []).append((index, key.encode()))
    return plan


def take_answers(
    plan: BatchPlan, answers: BloomAnswers
) -> tuple[dict[int, bool], dict[int, bool]] | None:
    """The batch-wide lookups, if they cover every Bloom key of this plan (else None)."""
    window_seen: dict[int, bool] = {}
    late_seen: dict[int, bool] = {}
    for source, items in plan.bloom_keys.items():
        for index, key in items:
            answer = answers.get((source, key))
            if answer is None:
                return None
            window_seen[index], late_seen[index] = answer
    for items in plan.late_keys.values():
        for index, _ in items:
            if index not in late_seen:
                return None  # a candidate of another mode: its late lookup is not fetched
    return window_seen, late_seen


def adds_of(plan: BatchPlan, now_ms: int) -> list[PendingBloomAdd]:
    """What the script would have added: keys the window filter (bloom mode) or the late
    summary did not report as seen."""
    adds: list[PendingBloomAdd] = []
    for target, groups, seen in (
        ("window", plan.bloom_keys, plan.window_seen),
        ("late", plan.late_keys, plan.late_seen),
    ):
        for source, items in groups.items():
            adds.extend(
                PendingBloomAdd(target, source, key, now_ms)
                for index, key in items
                if not seen.get(index, False)
            )
    return adds


def group_adds(adds: Sequence[PendingBloomAdd]) -> dict[tuple[str, str], list[bytes]]:
    groups: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for add in adds:
        groups[(add.target, add.source)].append(add.key)
    return groups
