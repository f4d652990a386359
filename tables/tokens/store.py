"""API tokens over a key-value store; only a hash of each token is stored.

A token reads ``dnx_<id>_<secret>``: the 16-hex-digit id is the store key (so revoking and listing
need no scan), the secret is 32 random bytes (urlsafe base64). The stored hash is HMAC-SHA256 of
the whole token under an optional server pepper; a slow password hash is unnecessary for 256-bit
random secrets, and comparison is constant-time. Revoked tokens stay (for audit) but never verify.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tables.pipelines.errors import ConflictError, NotFoundError
from tables.pipelines.store import now_ms
from tables.pipelines.types import KeyValueStore, iter_keys
from tables.tokens.types import IssuedToken, Role, TokenInfo

TOKEN_PREFIX = "dnx_"
_ID_HEX_CHARS = 16
BOOTSTRAP_ADMIN_NAME = "admin"


def _split(token: str) -> tuple[str, str] | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(token_id) != _ID_HEX_CHARS or not secret:
        return None
    return token_id, secret


def bearer_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` value (any case of ``Bearer``)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class TokenStore:
    def __init__(
        self,
        tokens: KeyValueStore,
        *,
        pepper: bytes = b"",
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._tokens = tokens
        self._pepper = pepper
        self._clock = clock

    def _hash(self, token: str) -> str:
        return hmac.new(self._pepper, token.encode(), hashlib.sha256).hexdigest()

    def create(self, *, name: str, role: Role | str, created_by: str) -> IssuedToken:
        """409 if a live token already has the name (names become version authors)."""
        role = Role(role)
        name = name.strip()
        if not name:
            raise ValueError("a token needs a non-empty name")
        if any(info.name == name for info in self.list()):
            raise ConflictError(f"a token named {name!r} already exists")
        token_id = secrets.token_hex(_ID_HEX_CHARS // 2)
        while token_id in self._tokens:
            token_id = secrets.token_hex(_ID_HEX_CHARS // 2)
        token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        info = TokenInfo(token_id, name, role, self._clock(), created_by)
        self._tokens[token_id] = {**info.to_json(), "hash": self._hash(token)}
        return IssuedToken(token, info)

    def verify(self, bearer: str | None) -> TokenInfo | None:
        """The token's info if it is known and not revoked; None otherwise (answer 401)."""
        if not bearer:
            return None
        parts = _split(bearer.strip())
        if parts is None:
            return None
        data = self._tokens.get(parts[0])
        if data is None:
            return None
        if not hmac.compare_digest(self._hash(bearer.strip()), str(data["hash"])):
            return None
        info = _info(data)
        return None if info.revoked else info

    def get(self, token_id: str) -> TokenInfo:
        data = self._tokens.get(token_id)
        if data is None:
            raise NotFoundError(f"token {token_id!r} does not exist")
        return _info(data)

    def list(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        """Ordered by creation time, then id."""
        infos = [self.get(key) for key in iter_keys(self._tokens)]
        shown = [i for i in infos if include_revoked or not i.revoked]
        return sorted(shown, key=lambda i: (i.created_ms, i.token_id))

    def revoke(self, token_id: str, *, revoked_by: str) -> TokenInfo:
        """Idempotent for revoked tokens; 404 for unknown ids."""
        data = self._tokens.get(token_id)
        if data is None:
            raise NotFoundError(f"token {token_id!r} does not exist")
        info = _info(data)
        if info.revoked:
            return info
        info = replace(info, revoked_ms=self._clock(), revoked_by=revoked_by)
        self._tokens[token_id] = {**info.to_json(), "hash": data["hash"]}
        return info

    def has_live_tokens(self) -> bool:
        return any(not self.get(key).revoked for key in iter_keys(self._tokens))

    def ensure_bootstrap_admin(self, name: str = BOOTSTRAP_ADMIN_NAME) -> IssuedToken | None:
        """At first start (no live token) an admin token to print once; None otherwise."""
        if self.has_live_tokens():
            return None
        return self.create(name=name, role=Role.ADMIN, created_by="bootstrap")


def _info(data: dict[str, Any]) -> TokenInfo:
    return TokenInfo(
        token_id=str(data["id"]),
        name=str(data["name"]),
        role=Role(data["role"]),
        created_ms=int(data["created_ms"]),
        created_by=str(data["created_by"]),
        revoked_ms=data.get("revoked_ms"),
        revoked_by=data.get("revoked_by"),
    )
