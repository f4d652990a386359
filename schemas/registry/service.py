"""Registry operations with Confluent Schema Registry semantics, over any ``SchemaStore``.

Reads answer from the store's in-memory state; writes append records and return once they are
read back. Parsed schemas are cached by id (parsing protobuf means running protoc), so lookups
and compatibility checks against registered versions parse nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from schemas import compat
from schemas.formats import handler_for
from schemas.registry import errors
from schemas.registry.records import (
    ConfigRecord,
    DeleteSubjectRecord,
    ModeRecord,
    SchemaRecord,
    SchemaValue,
    fingerprint,
)
from schemas.registry.registration import Candidate, RegistrationCommitter
from schemas.registry.state import StoredSchema, VersionEntry
from schemas.registry.types import SchemaStore
from schemas.types import (
    CompatibilityLevel,
    FormatHandler,
    ParsedSchema,
    RegistryMode,
    ResolvedReference,
    SchemaError,
    SchemaReference,
    SchemaType,
)

DEFAULT_COMPATIBILITY = CompatibilityLevel.BACKWARD
DEFAULT_MODE = RegistryMode.READWRITE
Json = dict[str, Any]


@dataclass(frozen=True)
class SchemaPayload:
    """A schema as sent by a client (``schema``, ``schemaType``, ``references``)."""

    text: str
    schema_type: SchemaType = SchemaType.AVRO
    references: tuple[SchemaReference, ...] = ()

    @classmethod
    def from_json(cls, body: Any) -> SchemaPayload:
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise errors.RegistryError(422, "Unrecognized field or missing field: schema")
        try:
            schema_type = SchemaType(body.get("schemaType") or "AVRO")
            references = tuple(
                SchemaReference(str(r["name"]), str(r["subject"]), int(r["version"]))
                for r in body.get("references") or ()
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise errors.invalid_schema(f"bad schemaType or references: {exc}") from exc
        return cls(body["schema"], schema_type, references)


class RegistryService:
    def __init__(
        self,
        store: SchemaStore,
        handlers: Callable[[SchemaType], FormatHandler] = handler_for,
    ) -> None:
        self.store = store
        self._handlers = handlers
        self._parsed: dict[int, ParsedSchema] = {}
        self._committer = RegistrationCommitter(store, self._check_candidate)

    async def start(self) -> None:
        await self.store.start()

    async def stop(self) -> None:
        await self._committer.stop()
        await self.store.stop()

    # Schemas by id ----------------------------------------------------------------------------

    def schema_types(self) -> list[str]:
        return [t.value for t in (SchemaType.JSON, SchemaType.PROTOBUF, SchemaType.AVRO)]

    def schema_by_id(self, schema_id: int, fmt: str | None = None) -> Json:
        stored = self._stored(schema_id)
        return self._schema_json(stored, fmt)

    def subjects_by_id(self, schema_id: int, deleted: bool = False) -> list[str]:
        self._stored(schema_id)
        entries = self.store.state.slots_of(schema_id)
        return sorted({e.subject for e in entries if deleted or not e.deleted})

    def versions_by_id(self, schema_id: int, deleted: bool = False) -> list[Json]:
        self._stored(schema_id)
        entries = self.store.state.slots_of(schema_id)
        return [
            {"subject": e.subject, "version": e.version}
            for e in entries
            if deleted or not e.deleted
        ]

    # Subjects and versions --------------------------------------------------------------------

    def subjects(self, deleted: bool = False, prefix: str = "") -> list[str]:
        state = self.store.state
        return sorted(
            subject
            for subject, versions in state.subjects.items()
            if subject.startswith(prefix)
            and (deleted or any(not e.deleted for e in versions.values()))
        )

    def versions(self, subject: str, deleted: bool = False) -> list[int]:
        entries = self.store.state.versions(subject, include_deleted=deleted)
        if not entries:
            raise errors.subject_not_found(subject)
        return [e.version for e in entries]

    def version(
        self, subject: str, version: str, deleted: bool = False, fmt: str | None = None
    ) -> Json:
        entry = self._entry(subject, version, deleted)
        return self._version_json(entry, fmt)

    def referenced_by(self, subject: str, version: str) -> list[int]:
        entry = self._entry(subject, version, deleted=True)
        return self.store.state.live_referrers(subject, entry.version)

    def lookup(
        self, subject: str, payload: SchemaPayload, normalize: bool = False, deleted: bool = False
    ) -> Json:
        entries = self.store.state.versions(subject, include_deleted=deleted)
        if not entries:
            raise errors.subject_not_found(subject)
        parsed = self._parse(payload)
        wanted = fingerprint(payload.schema_type, parsed.canonical(), payload.references)
        for entry in reversed(entries):
            if self.store.state.schemas[entry.schema_id].fingerprint == wanted:
                return self._version_json(entry, None)
        raise errors.schema_not_found()

    async def register(
        self,
        subject: str,
        payload: SchemaPayload,
        normalize: bool = False,
        schema_id: int | None = None,
        version: int | None = None,
    ) -> int:
        mode = self.mode_of(subject)
        if mode is RegistryMode.READONLY:
            raise errors.operation_not_permitted(f"Subject {subject} is in read-only mode")
        if (schema_id is not None or version is not None) and mode is not RegistryMode.IMPORT:
            raise errors.operation_not_permitted(
                "Cannot specify an id or version unless the subject is in IMPORT mode"
            )
        parsed = self._parse(payload)
        canonical = parsed.canonical()
        keep_canonical = normalize or payload.schema_type is SchemaType.PROTOBUF
        candidate = Candidate(
            subject=subject,
            schema_type=payload.schema_type,
            text=canonical if keep_canonical else payload.text,
            references=payload.references,
            fingerprint=fingerprint(payload.schema_type, canonical, payload.references),
            parsed=parsed,
            requested_id=schema_id,
            requested_version=version,
        )
        for entry in reversed(self.store.state.versions(subject)):
            if self.store.state.schemas[entry.schema_id].fingerprint == candidate.fingerprint:
                return entry.schema_id
        registered = await self._committer.submit(candidate)
        self._parsed.setdefault(registered, parsed)
        return registered

    # Deletes -------------------------------------------------------------------------------

    async def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        self._require_writable(subject)
        state = self.store.state
        everything = state.versions(subject, include_deleted=True)
        if not everything:
            raise errors.subject_not_found(subject)
        live = [e for e in everything if not e.deleted]
        if permanent:
            if live:
                raise errors.subject_not_soft_deleted(subject)
            for entry in everything:
                self._require_unreferenced(entry)
            await self.store.append([SchemaRecord(subject, e.version, None) for e in everything])
            return [e.version for e in everything]
        if not live:
            raise errors.subject_soft_deleted(subject)
        for entry in live:
            self._require_unreferenced(entry)
        await self.store.append([DeleteSubjectRecord(subject, everything[-1].version)])
        return [e.version for e in live]

    async def delete_version(self, subject: str, version: str, permanent: bool = False) -> int:
        self._require_writable(subject)
        entry = self._entry(subject, version, deleted=True)
        if permanent:
            if not entry.deleted:
                raise errors.version_not_soft_deleted(subject, entry.version)
            self._require_unreferenced(entry)
            await self.store.append([SchemaRecord(subject, entry.version, None)])
            return entry.version
        if entry.deleted:
            raise errors.version_soft_deleted(subject, entry.version)
        self._require_unreferenced(entry)
        stored = self.store.state.schemas[entry.schema_id]
        await self.store.append([_schema_record(entry, stored, deleted=True)])
        return entry.version

    # Compatibility ---------------------------------------------------------------------------

    def check_compatibility(
        self, subject: str, payload: SchemaPayload, version: str | None, verbose: bool = False
    ) -> Json:
        parsed = self._parse(payload)
        level = self.compatibility_of(subject)
        if version is None:
            existing = [self.parsed(e.schema_id) for e in self.store.state.versions(subject)]
            messages = compat.check(level, parsed, existing)
        else:
            if version in ("latest", "-1") and not self.store.state.versions(subject):
                return _compat_json([], verbose)
            entry = self._entry(subject, version, deleted=False)
            if level is CompatibilityLevel.NONE:
                messages = []
            else:
                as_single = _NON_TRANSITIVE.get(level, level)
                messages = compat.check(as_single, parsed, [self.parsed(entry.schema_id)])
        return _compat_json(messages, verbose)

    # Config and mode -------------------------------------------------------------------------

    def compatibility_of(self, subject: str | None) -> CompatibilityLevel:
        config = self.store.state.config
        if subject is not None and subject in config:
            return config[subject]
        return config.get(None, DEFAULT_COMPATIBILITY)

    def get_config(self, subject: str | None, default_to_global: bool = False) -> Json:
        config = self.store.state.config
        if subject is not None and subject not in config and not default_to_global:
            raise errors.subject_config_not_found(subject)
        return {"compatibilityLevel": self.compatibility_of(subject).value}

    async def set_config(self, subject: str | None, level: Any) -> Json:
        try:
            parsed = CompatibilityLevel(str(level).upper())
        except ValueError as exc:
            raise errors.invalid_compatibility_level(level) from exc
        await self.store.append([ConfigRecord(subject, parsed)])
        return {"compatibility": parsed.value}

    async def delete_config(self, subject: str | None) -> Json:
        config = self.store.state.config
        if subject is not None and subject not in config:
            raise errors.subject_config_not_found(subject)
        previous = self.compatibility_of(subject)
        await self.store.append([ConfigRecord(subject, None)])
        return {"compatibilityLevel": previous.value}

    def mode_of(self, subject: str | None) -> RegistryMode:
        modes = self.store.state.modes
        if subject is not None and subject in modes:
            return modes[subject]
        return modes.get(None, DEFAULT_MODE)

    def get_mode(self, subject: str | None, default_to_global: bool = False) -> Json:
        if subject is not None and subject not in self.store.state.modes and not default_to_global:
            raise errors.subject_mode_not_found(subject)
        return {"mode": self.mode_of(subject).value}

    async def set_mode(self, subject: str | None, mode: Any, force: bool = False) -> Json:
        try:
            parsed = RegistryMode(str(mode).upper())
        except ValueError as exc:
            raise errors.invalid_mode(mode) from exc
        if parsed is RegistryMode.IMPORT and not force:
            has_schemas = self.store.state.versions(subject) if subject else self.subjects()
            if has_schemas:
                raise errors.operation_not_permitted("Cannot import since found existing subjects")
        await self.store.append([ModeRecord(subject, parsed)])
        return {"mode": parsed.value}

    async def delete_mode(self, subject: str) -> Json:
        if subject not in self.store.state.modes:
            raise errors.subject_mode_not_found(subject)
        previous = self.mode_of(subject)
        await self.store.append([ModeRecord(subject, None)])
        return {"mode": previous.value}

    # Parsing ---------------------------------------------------------------------------------

    def parsed(self, schema_id: int) -> ParsedSchema:
        """The registered schema ``schema_id``, parsed once and cached."""
        cached = self._parsed.get(schema_id)
        if cached is None:
            stored = self._stored(schema_id)
            cached = self._handlers(stored.schema_type).parse(
                stored.text, self._resolve(stored.references)
            )
            self._parsed[schema_id] = cached
        return cached

    def _parse(self, payload: SchemaPayload) -> ParsedSchema:
        try:
            handler = self._handlers(payload.schema_type)
        except (KeyError, ValueError) as exc:
            raise errors.invalid_schema(f"unsupported schema type {payload.schema_type}") from exc
        try:
            return handler.parse(payload.text, self._resolve(payload.references))
        except SchemaError as exc:
            raise errors.invalid_schema(str(exc)) from exc

    def _resolve(
        self, references: Sequence[SchemaReference], depth: int = 0
    ) -> list[ResolvedReference]:
        if depth > 32:
            raise errors.invalid_schema("references nest too deeply (cycle?)")
        resolved = []
        for ref in references:
            entry = self.store.state.entry(ref.subject, ref.version)
            if entry is None:
                raise errors.invalid_schema(
                    f"reference '{ref.name}' to subject {ref.subject} version {ref.version} "
                    "not found"
                )
            stored = self.store.state.schemas[entry.schema_id]
            resolved.append(
                ResolvedReference(
                    ref.name, stored.text, tuple(self._resolve(stored.references, depth + 1))
                )
            )
        return resolved

    def _check_candidate(self, candidate: Candidate) -> list[str]:
        if self.mode_of(candidate.subject) is RegistryMode.IMPORT:
            return []
        level = self.compatibility_of(candidate.subject)
        if level is CompatibilityLevel.NONE:
            return []
        entries = self.store.state.versions(candidate.subject)
        existing = [self.parsed(e.schema_id) for e in entries]
        return compat.check(level, candidate.parsed, existing)

    # Helpers ---------------------------------------------------------------------------------

    def _stored(self, schema_id: int) -> StoredSchema:
        state = self.store.state
        stored = state.schemas.get(schema_id)
        if stored is None or not state.slots_by_id.get(schema_id):
            raise errors.schema_not_found(schema_id)
        return stored

    def _entry(self, subject: str, version: str, deleted: bool) -> VersionEntry:
        state = self.store.state
        entries = state.versions(subject, include_deleted=True)
        if not entries:
            raise errors.subject_not_found(subject)
        if version in ("latest", "-1"):
            visible = [e for e in entries if deleted or not e.deleted]
            if not visible:
                raise errors.version_not_found(subject, version)
            return visible[-1]
        try:
            number = int(version)
        except ValueError as exc:
            raise errors.invalid_version(version) from exc
        if number < 1 or number > 2**31 - 1:
            raise errors.invalid_version(version)
        entry = state.entry(subject, number)
        if entry is None or (entry.deleted and not deleted):
            raise errors.version_not_found(subject, number)
        return entry

    def _require_writable(self, subject: str) -> None:
        if self.mode_of(subject) is RegistryMode.READONLY:
            raise errors.operation_not_permitted(f"Subject {subject} is in read-only mode")

    def _require_unreferenced(self, entry: VersionEntry) -> None:
        if self.store.state.live_referrers(entry.subject, entry.version):
            raise errors.reference_exists(entry.subject, entry.version)

    def _schema_json(self, stored: StoredSchema, fmt: str | None) -> Json:
        body: Json = {"schema": self._render(stored, fmt)}
        if stored.schema_type is not SchemaType.AVRO:
            body["schemaType"] = stored.schema_type.value
        if stored.references:
            body["references"] = [
                {"name": r.name, "subject": r.subject, "version": r.version}
                for r in stored.references
            ]
        return body

    def _version_json(self, entry: VersionEntry, fmt: str | None) -> Json:
        stored = self.store.state.schemas[entry.schema_id]
        return {
            "subject": entry.subject,
            "version": entry.version,
            "id": entry.schema_id,
            **self._schema_json(stored, fmt),
        }

    def _render(self, stored: StoredSchema, fmt: str | None) -> str:
        if fmt == "serialized" and stored.schema_type is SchemaType.PROTOBUF:
            render = getattr(self.parsed(stored.schema_id), "serialized", None)
            if callable(render):
                return str(render())
        return stored.text


_NON_TRANSITIVE = {
    CompatibilityLevel.BACKWARD_TRANSITIVE: CompatibilityLevel.BACKWARD,
    CompatibilityLevel.FORWARD_TRANSITIVE: CompatibilityLevel.FORWARD,
    CompatibilityLevel.FULL_TRANSITIVE: CompatibilityLevel.FULL,
}


def _compat_json(messages: list[str], verbose: bool) -> Json:
    body: Json = {"is_compatible": not messages}
    if verbose:
        body["messages"] = messages
    return body


def _schema_record(entry: VersionEntry, stored: StoredSchema, deleted: bool) -> SchemaRecord:
    return SchemaRecord(
        entry.subject,
        entry.version,
        SchemaValue(
            subject=entry.subject,
            version=entry.version,
            schema_id=stored.schema_id,
            text=stored.text,
            schema_type=stored.schema_type,
            references=stored.references,
            deleted=deleted,
            fingerprint=stored.fingerprint,
        ),
    )
