"""Role checks. Roles are not a line: a producer may ingest but not read, a viewer the reverse,
so each role is a set of permissions and a role satisfies another when it holds all of its."""

from __future__ import annotations

import enum

from tables.tokens.types import Role, TokenInfo


class Permission(enum.StrEnum):
    READ = "read"
    INGEST = "ingest"
    WRITE_PIPELINES = "write_pipelines"
    ADMINISTER = "administer"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.PRODUCER: frozenset({Permission.INGEST}),
    Role.EDITOR: frozenset({Permission.READ, Permission.WRITE_PIPELINES}),
    Role.ADMIN: frozenset(Permission),
}


def role_satisfies(held: Role, required: Role) -> bool:
    return ROLE_PERMISSIONS[required] <= ROLE_PERMISSIONS[held]


def authorize(token: TokenInfo | None, required: Role) -> bool:
    """False for no token or a revoked one (views answer 401 for those before asking)."""
    return token is not None and not token.revoked and role_satisfies(token.role, required)
