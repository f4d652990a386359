from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from tables.pipelines import ConflictError, NotFoundError
from tables.tokens import (
    TOKEN_PREFIX,
    Role,
    TokenStore,
    authorize,
    bearer_token,
    role_satisfies,
)


def new_tokens() -> tuple[TokenStore, dict[str, Any]]:
    table: dict[str, Any] = {}
    ticks = iter(range(1_000, 100_000))
    return TokenStore(table, pepper=b"pepper", clock=lambda: next(ticks)), table


def test_created_token_verifies_and_only_a_hash_is_stored() -> None:
    tokens, table = new_tokens()
    issued = tokens.create(name="ci", role="editor", created_by="admin")
    assert issued.token.startswith(TOKEN_PREFIX)
    assert len(issued.token) > 50
    info = tokens.verify(issued.token)
    assert info == issued.info
    assert (info.name, info.role, info.created_by) == ("ci", Role.EDITOR, "admin")
    stored = repr(table)
    secret = issued.token.rsplit("_", 1)[-1]
    assert issued.token not in stored and secret not in stored
    assert hashlib.sha256(issued.token.encode()).hexdigest() not in stored, "must be peppered"


def test_two_tokens_differ_and_do_not_verify_each_other() -> None:
    tokens, _ = new_tokens()
    first = tokens.create(name="a", role=Role.VIEWER, created_by="x")
    second = tokens.create(name="b", role=Role.VIEWER, created_by="x")
    assert first.token != second.token
    token_id = first.info.token_id
    forged = f"{TOKEN_PREFIX}{token_id}_{second.token.split('_', 2)[2]}"
    assert tokens.verify(forged) is None


@pytest.mark.parametrize(
    "bearer",
    [
        None,
        "",
        "nonsense",
        "dnx_",
        "dnx_short_secret",
        "dnx_0123456789abcdef_wrong",
        "xyz_0123456789abcdef_s",
    ],
)
def test_malformed_or_unknown_tokens_do_not_verify(bearer: str | None) -> None:
    tokens, _ = new_tokens()
    tokens.create(name="a", role=Role.ADMIN, created_by="x")
    assert tokens.verify(bearer) is None


def test_tampered_secret_does_not_verify() -> None:
    tokens, _ = new_tokens()
    issued = tokens.create(name="a", role=Role.ADMIN, created_by="x")
    last = issued.token[-1]
    assert tokens.verify(issued.token[:-1] + ("A" if last != "A" else "B")) is None


def test_pepper_is_part_of_the_hash() -> None:
    tokens, table = new_tokens()
    issued = tokens.create(name="a", role=Role.ADMIN, created_by="x")
    assert TokenStore(table, pepper=b"other").verify(issued.token) is None
    assert TokenStore(table, pepper=b"pepper").verify(issued.token) is not None


def test_revoke_list_and_names() -> None:
    tokens, _ = new_tokens()
    keep = tokens.create(name="keep", role=Role.VIEWER, created_by="root")
    drop = tokens.create(name="drop", role=Role.PRODUCER, created_by="root")
    with pytest.raises(ConflictError):
        tokens.create(name="keep", role=Role.ADMIN, created_by="root")
    revoked = tokens.revoke(drop.info.token_id, revoked_by="root")
    assert revoked.revoked and revoked.revoked_by == "root"
    assert tokens.revoke(drop.info.token_id, revoked_by="other").revoked_by == "root"
    assert tokens.verify(drop.token) is None
    assert tokens.verify(keep.token) is not None
    assert [i.name for i in tokens.list()] == ["keep"]
    assert [i.name for i in tokens.list(include_revoked=True)] == ["keep", "drop"]
    tokens.create(name="drop", role=Role.PRODUCER, created_by="root")
    with pytest.raises(NotFoundError):
        tokens.revoke("0000000000000000", revoked_by="root")
    with pytest.raises(ValueError):
        tokens.create(name="  ", role=Role.VIEWER, created_by="root")
    with pytest.raises(ValueError):
        tokens.create(name="x", role="superuser", created_by="root")


def test_to_json_never_contains_the_hash() -> None:
    tokens, _ = new_tokens()
    info = tokens.create(name="a", role=Role.ADMIN, created_by="x").info
    assert set(info.to_json()) == {
        "id",
        "name",
        "role",
        "created_ms",
        "created_by",
        "revoked_ms",
        "revoked_by",
    }


def test_bootstrap_admin_only_when_no_live_token() -> None:
    tokens, _ = new_tokens()
    issued = tokens.ensure_bootstrap_admin()
    assert issued is not None and issued.info.role is Role.ADMIN
    assert tokens.verify(issued.token) is not None
    assert tokens.ensure_bootstrap_admin() is None
    tokens.revoke(issued.info.token_id, revoked_by="x")
    second = tokens.ensure_bootstrap_admin(name="admin-2")
    assert second is not None and second.info.name == "admin-2"


@pytest.mark.parametrize(
    ("held", "allowed"),
    [
        (Role.VIEWER, {Role.VIEWER}),
        (Role.PRODUCER, {Role.PRODUCER}),
        (Role.EDITOR, {Role.VIEWER, Role.EDITOR}),
        (Role.ADMIN, set(Role)),
    ],
)
def test_role_hierarchy(held: Role, allowed: set[Role]) -> None:
    tokens, _ = new_tokens()
    info = tokens.create(name="t", role=held, created_by="x").info
    for required in Role:
        assert authorize(info, required) is (required in allowed), (held, required)
        assert role_satisfies(held, required) is (required in allowed)


def test_authorize_refuses_missing_and_revoked_tokens() -> None:
    tokens, _ = new_tokens()
    issued = tokens.create(name="t", role=Role.ADMIN, created_by="x")
    assert not authorize(None, Role.VIEWER)
    revoked = tokens.revoke(issued.info.token_id, revoked_by="x")
    assert not authorize(revoked, Role.VIEWER)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer dnx_abc", "dnx_abc"),
        ("bearer   dnx_abc  ", "dnx_abc"),
        ("Basic dnx_abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_header_parsing(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected


def test_tokens_survive_a_json_reload() -> None:
    tokens, table = new_tokens()
    issued = tokens.create(name="a", role=Role.PRODUCER, created_by="x")
    reloaded = TokenStore(orjson.loads(orjson.dumps(table)), pepper=b"pepper")
    assert reloaded.verify(issued.token) == issued.info
