"""Tokens for a worker: the shared token table, verification, and first-start bootstrap."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from typing import Any

from agents.tokens.topic_table import TopicTable, ensure_table_topic
from app.producer import FastProducer
from tables.tokens import TOKEN_PREFIX, IssuedToken, Role, TokenInfo, TokenStore

log = logging.getLogger(__name__)

BOOTSTRAP_NAME = "admin"


def tokens_topic(app_id: str, configured: str = "") -> str:
    return configured or f"{app_id}.tokens"


def new_token_string() -> str:
    """A token in the format ``TokenStore`` verifies, for a bootstrap token chosen up front."""
    return f"{TOKEN_PREFIX}{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


class SharedTokenStore(TokenStore):
    """A ``TokenStore`` that can also adopt a token generated elsewhere (bootstrap)."""

    def adopt(self, token: str, *, name: str, role: Role, created_by: str) -> TokenInfo:
        known = self.verify(token)
        if known is not None:
            return known
        token_id, sep, secret = token.removeprefix(TOKEN_PREFIX).partition("_")
        if not token.startswith(TOKEN_PREFIX) or len(token_id) != 16 or not sep or not secret:
            raise ValueError(f"a token must read {TOKEN_PREFIX}<16 hex digits>_<secret>")
        if token_id in self._tokens:
            raise ValueError("the token's id is taken by another token")
        info = TokenInfo(token_id, name, role, self._clock(), created_by)
        self._tokens[token_id] = {**info.to_json(), "hash": self._hash(token)}
        return info


class TokenService:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.table = TopicTable(bootstrap, topic)
        self.store = SharedTokenStore(self.table)
        self.bootstrap_used = False
        self._ready = threading.Event()
        """Set once the table is loaded and the bootstrap token (if any) is stored."""

    async def start(self, producer: FastProducer, bootstrap_token: str) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ensure_table_topic, self.table.bootstrap, self.table.topic)
        self.table.start()
        try:
            await loop.run_in_executor(None, self.table.loaded.wait, 90.0)
            if bootstrap_token and not self.store.has_live_tokens():
                self.store.adopt(
                    bootstrap_token, name=BOOTSTRAP_NAME, role=Role.ADMIN, created_by="bootstrap"
                )
                await self.flush(producer)
                self.bootstrap_used = True
                log.warning("no API token existed: the bootstrap admin token was stored")
        finally:
            self._ready.set()

    @property
    def loaded(self) -> bool:
        return self._ready.is_set()

    async def wait_loaded(self, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._ready.wait, timeout_s)

    def verify(self, bearer: str | None) -> TokenInfo | None:
        return self.store.verify(bearer)

    async def create(
        self, producer: FastProducer, *, name: str, role: Role | str, created_by: str
    ) -> IssuedToken:
        issued = self.store.create(name=name, role=role, created_by=created_by)
        await self.flush(producer)
        return issued

    async def revoke(self, producer: FastProducer, token_id: str, *, revoked_by: str) -> TokenInfo:
        info = self.store.revoke(token_id, revoked_by=revoked_by)
        await self.flush(producer)
        return info

    async def flush(self, producer: FastProducer) -> None:
        pending = self.table.take_pending()
        if pending:
            await producer.send_batch(self.table.topic, pending)

    def health(self) -> dict[str, Any]:
        return {"tokens_loaded": self.loaded, "bootstrap_token_used": self.bootstrap_used}

    def stop(self) -> None:
        self.table.stop()
