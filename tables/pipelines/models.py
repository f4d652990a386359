"""Stored pipeline heads and versions, with their JSON forms for the REST answers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class VersionKind(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    ROLLED_BACK = "rolled_back"


@dataclass(frozen=True)
class VersionMeta:
    """Who made a version, when, and why; a rollback names the restored and the replaced version."""

    version: int
    author: str
    created_ms: int
    description: str
    kind: VersionKind
    previous_version: int | None = None
    rollback_of: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "author": self.author,
            "created_ms": self.created_ms,
            "description": self.description,
            "kind": self.kind.value,
            "previous_version": self.previous_version,
            "rollback_of": self.rollback_of,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionMeta:
        return cls(
            version=int(data["version"]),
            author=str(data["author"]),
            created_ms=int(data["created_ms"]),
            description=str(data["description"]),
            kind=VersionKind(data["kind"]),
            previous_version=data.get("previous_version"),
            rollback_of=data.get("rollback_of"),
        )


@dataclass(frozen=True)
class PipelineVersion:
    pipeline_id: str
    meta: VersionMeta
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"pipeline_id": self.pipeline_id, **self.meta.to_json(), "config": self.config}


@dataclass(frozen=True)
class Pipeline:
    """A pipeline's head: its current config and version plus the retained version range."""

    id: str
    config: dict[str, Any]
    current_version: int
    oldest_version: int
    created_ms: int
    created_by: str
    updated_ms: int
    updated_by: str
    deleted_ms: int | None = None
    deleted_by: str | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_ms is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.current_version,
            "oldest_version": self.oldest_version,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "updated_ms": self.updated_ms,
            "updated_by": self.updated_by,
            "config": self.config,
        }

    def to_stored(self) -> dict[str, Any]:
        return {**self.to_json(), "deleted_ms": self.deleted_ms, "deleted_by": self.deleted_by}

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Pipeline:
        return cls(
            id=str(data["id"]),
            config=data["config"],
            current_version=int(data["version"]),
            oldest_version=int(data["oldest_version"]),
            created_ms=int(data["created_ms"]),
            created_by=str(data["created_by"]),
            updated_ms=int(data["updated_ms"]),
            updated_by=str(data["updated_by"]),
            deleted_ms=data.get("deleted_ms"),
            deleted_by=data.get("deleted_by"),
        )
