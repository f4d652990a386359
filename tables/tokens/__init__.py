"""API tokens (hashed at rest) and role checks for every ``/v1`` endpoint."""

from tables.tokens.roles import ROLE_PERMISSIONS, Permission, authorize, role_satisfies
from tables.tokens.store import TOKEN_PREFIX, TokenStore, bearer_token
from tables.tokens.types import IssuedToken, Role, TokenInfo

__all__ = [
    "ROLE_PERMISSIONS",
    "TOKEN_PREFIX",
    "IssuedToken",
    "Permission",
    "Role",
    "TokenInfo",
    "TokenStore",
    "authorize",
    "bearer_token",
    "role_satisfies",
]
