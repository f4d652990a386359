"""API token roles and the public view of a token (never its secret or hash)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Role(enum.StrEnum):
    """``viewer`` reads; ``producer`` only ingests; ``editor`` changes pipelines and reads;
    ``admin`` may do everything (tokens, settings). See ``roles.authorize``."""

    VIEWER = "viewer"
    PRODUCER = "producer"
    EDITOR = "editor"
    ADMIN = "admin"


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    name: str
    role: Role
    created_ms: int
    created_by: str
    revoked_ms: int | None = None
    revoked_by: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_ms is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "name": self.name,
            "role": self.role.value,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "revoked_ms": self.revoked_ms,
            "revoked_by": self.revoked_by,
        }


@dataclass(frozen=True)
class IssuedToken:
    """The result of creating a token: the only moment the secret exists outside the client."""

    token: str
    info: TokenInfo
