"""Group commit for registrations: every registration waiting while a write is in flight goes
into the next single ``append`` (one produce burst, one read-back wait), so concurrent clients do
not queue behind one broker round trip each.

Planning a batch allocates ids against the current state plus the batch's own earlier claims,
and at most one new version per subject (later ones wait for the next batch). That keeps
compatibility sound without a leader: a claim for version v was checked against the v-1 its
writer saw, and if another instance took v first the claim loses and is planned again from the
newer state (``schemas.registry.state`` describes the claim protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.registry import errors
from schemas.registry.records import SchemaRecord, SchemaValue
from schemas.registry.state import RegistryState
from schemas.registry.types import SchemaStore
from schemas.types import ParsedSchema, SchemaReference, SchemaType

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20


@dataclass
class Candidate:
    subject: str
    schema_type: SchemaType
    text: str
    references: tuple[SchemaReference, ...]
    fingerprint: str
    parsed: ParsedSchema
    requested_id: int | None = None
    requested_version: int | None = None
    attempts: int = 0
    result: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class _Batch:
    """Claims planned so far in one batch, layered over the state."""

    state: RegistryState
    next_id: int
    ids_by_fingerprint: dict[str, int] = field(default_factory=dict)
    max_version: dict[str, int] = field(default_factory=dict)
    planned: list[tuple[Candidate, SchemaRecord]] = field(default_factory=list)


# Why ``candidate`` may not follow the subject's registered versions (empty: compatible).
CompatibilityCheck = Callable[[Candidate], list[str]]


class RegistrationCommitter:
    def __init__(self, store: SchemaStore, check: CompatibilityCheck) -> None:
        self._store = store
        self._check = check
        self._queue: list[Candidate] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, candidate: Candidate) -> int:
        self._queue.append(candidate)
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await candidate.result

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._queue = self._queue, []
            try:
                retry = await self._commit(batch)
            except Exception as exc:
                log.exception("registration batch failed")
                failure = (
                    exc if isinstance(exc, errors.RegistryError) else errors.store_error(str(exc))
                )
                for candidate in batch:
                    _fail(candidate, failure)
                continue
            if retry:
                self._queue[:0] = retry
                self._wakeup.set()

    async def _commit(self, candidates: list[Candidate]) -> list[Candidate]:
        state = self._store.state
        batch = _Batch(state, next_id=state.max_id + 1)
        deferred: list[Candidate] = []
        for candidate in candidates:
            if candidate.result.done():
                continue
            if candidate.subject in batch.max_version:
                deferred.append(candidate)  # one new version per subject per batch
                continue
            try:
                self._plan(batch, candidate)
            except errors.RegistryError as exc:
                _fail(candidate, exc)
        if batch.planned:
            await self._store.append([record for _, record in batch.planned])
        retry = deferred
        for candidate, record in batch.planned:
            value = record.value
            assert value is not None
            if _claim_holds(state, record.subject, record.version, value):
                if not candidate.result.done():
                    candidate.result.set_result(value.schema_id)
                continue
            candidate.attempts += 1
            if candidate.requested_id is not None or candidate.requested_version is not None:
                _fail(
                    candidate,
                    errors.operation_not_permitted(
                        f"Overwrite new schema with id {value.schema_id} and version "
                        f"{value.version} is not permitted."
                    ),
                )
            elif candidate.attempts >= MAX_ATTEMPTS:
                _fail(candidate, errors.store_error("too many concurrent registration conflicts"))
            else:
                retry.append(candidate)
        return retry

    def _plan(self, batch: _Batch, candidate: Candidate) -> None:
        state = batch.state
        subject = candidate.subject
        for entry in state.versions(subject):
            stored = state.schemas.get(entry.schema_id)
            if stored is not None and stored.fingerprint == candidate.fingerprint:
                candidate.result.set_result(entry.schema_id)
                return
        messages = self._check(candidate)
        if messages:
            raise errors.incompatible(subject, messages)
        schema_id = (
            candidate.requested_id
            or state.ids_by_fingerprint.get(candidate.fingerprint)
            or batch.ids_by_fingerprint.get(candidate.fingerprint)
        )
        if schema_id is None:
            schema_id = batch.next_id
            batch.next_id += 1
        known = state.schemas.get(schema_id)
        if known is not None and known.fingerprint != candidate.fingerprint:
            raise errors.operation_not_permitted(
                f"Overwrite new schema with id {schema_id} is not permitted."
            )
        version = candidate.requested_version or (
            max(state.max_version(subject), batch.max_version.get(subject, 0)) + 1
        )
        text = known.text if known is not None else candidate.text
        record = SchemaRecord(
            subject,
            version,
            SchemaValue(
                subject=subject,
                version=version,
                schema_id=schema_id,
                text=text,
                schema_type=candidate.schema_type,
                references=candidate.references,
                deleted=False,
                fingerprint=candidate.fingerprint,
            ),
        )
        batch.ids_by_fingerprint[candidate.fingerprint] = schema_id
        batch.max_version[subject] = version
        batch.planned.append((candidate, record))


def _claim_holds(state: RegistryState, subject: str, version: int, value: SchemaValue) -> bool:
    """Whether the log gave ``value``'s schema the slot under its id.

    The id in the slot is not enough: two instances planning from the same stale state claim the
    same slot with the same next id for two different schemas; readers keep the first, and the
    loser must see that the id now means another schema (and retry), not report it as its own.
    """
    entry = state.entry(subject, version)
    if entry is None or entry.schema_id != value.schema_id:
        return False
    stored = state.schemas.get(value.schema_id)
    return stored is not None and stored.fingerprint == value.fingerprint


def _fail(candidate: Candidate, exc: BaseException) -> None:
    if not candidate.result.done():
        candidate.result.set_exception(exc)
