"""The registry's in-memory view of the ``_schemas`` log, and the id protocol that keeps
several instances consistent without a leader.

Every instance applies the same records in the same (log) order with the same rules, so every
instance reaches the same state. Registration is optimistic:

1. A writer plans a ``SCHEMA`` record from its current state: the schema's existing id if its
   fingerprint (type + canonical text + references) is known, else ``max id + 1``; version
   ``max version of the subject + 1``. The record itself is the *claim* on the id and the slot.
2. Readers accept a ``SCHEMA`` record only if it contradicts nothing applied before it:
   the id is unused or already means the same fingerprint; the fingerprint has no other id;
   the (subject, version) slot is free or already holds the same id (a soft delete/undelete).
   Anything else lost a race to an earlier claim and is ignored by every reader alike.
3. The writer waits until its own record has been read back (so its state now holds every
   record before it) and looks at the slot: holding its id means success; otherwise it plans
   again from the newer state, which now contains the winner - the same schema then reuses the
   winner's id, a different one takes the next free id/version.

Other records are last-writer-wins in log order. Ids are never reused for another schema, even
after a permanent delete, so an id a consumer has seen keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from schemas.registry.records import (
    ConfigRecord,
    DeleteSubjectRecord,
    ModeRecord,
    NoopRecord,
    Record,
    SchemaRecord,
    SchemaValue,
)
from schemas.types import CompatibilityLevel, RegistryMode, SchemaReference, SchemaType


@dataclass(frozen=True)
class StoredSchema:
    schema_id: int
    schema_type: SchemaType
    text: str
    references: tuple[SchemaReference, ...]
    fingerprint: str


@dataclass
class VersionEntry:
    subject: str
    version: int
    schema_id: int
    deleted: bool


@dataclass
class RegistryState:
    schemas: dict[int, StoredSchema] = field(default_factory=dict)
    ids_by_fingerprint: dict[str, int] = field(default_factory=dict)
    subjects: dict[str, dict[int, VersionEntry]] = field(default_factory=dict)
    slots_by_id: dict[int, set[tuple[str, int]]] = field(default_factory=dict)
    referrers: dict[tuple[str, int], set[int]] = field(default_factory=dict)
    config: dict[str | None, CompatibilityLevel] = field(default_factory=dict)
    modes: dict[str | None, RegistryMode] = field(default_factory=dict)
    max_id: int = 0
    applied_offset: int = -1
    rejected_claims: int = 0

    def apply(self, record: Record, offset: int) -> bool:
        """Apply one record read at ``offset``; False if it lost a race and was ignored."""
        self.applied_offset = offset
        match record:
            case SchemaRecord(subject, version, None):
                self._remove_slot(subject, version)
            case SchemaRecord(subject, version, SchemaValue() as value):
                if not self._claim_wins(subject, version, value):
                    self.rejected_claims += 1
                    return False
                self._set_slot(value)
            case ConfigRecord(subject, level):
                if level is None:
                    self.config.pop(subject, None)
                else:
                    self.config[subject] = level
            case ModeRecord(subject, mode):
                if mode is None:
                    self.modes.pop(subject, None)
                else:
                    self.modes[subject] = mode
            case DeleteSubjectRecord(subject, up_to):
                for entry in self.subjects.get(subject, {}).values():
                    if entry.version <= up_to:
                        entry.deleted = True
            case NoopRecord():
                pass
        return True

    def _claim_wins(self, subject: str, version: int, value: SchemaValue) -> bool:
        known = self.schemas.get(value.schema_id)
        if known is not None and known.fingerprint != value.fingerprint:
            return False
        owner = self.ids_by_fingerprint.get(value.fingerprint)
        if owner is not None and owner != value.schema_id:
            return False
        slot = self.subjects.get(subject, {}).get(version)
        return slot is None or slot.schema_id == value.schema_id

    def _set_slot(self, value: SchemaValue) -> None:
        schema_id = value.schema_id
        if schema_id not in self.schemas:
            self.schemas[schema_id] = StoredSchema(
                schema_id, value.schema_type, value.text, value.references, value.fingerprint
            )
            self.ids_by_fingerprint[value.fingerprint] = schema_id
            self.max_id = max(self.max_id, schema_id)
            for ref in value.references:
                self.referrers.setdefault((ref.subject, ref.version), set()).add(schema_id)
        versions = self.subjects.setdefault(value.subject, {})
        versions[value.version] = VersionEntry(
            value.subject, value.version, schema_id, value.deleted
        )
        self.slots_by_id.setdefault(schema_id, set()).add((value.subject, value.version))

    def _remove_slot(self, subject: str, version: int) -> None:
        versions = self.subjects.get(subject)
        if versions is None or version not in versions:
            return
        entry = versions.pop(version)
        if not versions:
            del self.subjects[subject]
        self.slots_by_id.get(entry.schema_id, set()).discard((subject, version))

    # Queries -------------------------------------------------------------------------------

    def versions(self, subject: str, include_deleted: bool = False) -> list[VersionEntry]:
        """Versions of ``subject``, oldest first."""
        entries = self.subjects.get(subject, {})
        return [entries[v] for v in sorted(entries) if include_deleted or not entries[v].deleted]

    def entry(self, subject: str, version: int) -> VersionEntry | None:
        return self.subjects.get(subject, {}).get(version)

    def max_version(self, subject: str) -> int:
        return max(self.subjects.get(subject, {}), default=0)

    def slots_of(self, schema_id: int) -> Iterator[VersionEntry]:
        for subject, version in sorted(self.slots_by_id.get(schema_id, ())):
            entry = self.entry(subject, version)
            if entry is not None:
                yield entry

    def live_referrers(self, subject: str, version: int) -> list[int]:
        """Ids of schemas that reference (subject, version) and still have a live version."""
        return sorted(
            schema_id
            for schema_id in self.referrers.get((subject, version), ())
            if any(not e.deleted for e in self.slots_of(schema_id))
        )
