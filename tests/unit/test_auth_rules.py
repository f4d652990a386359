"""Route roles, the topic-mirrored token table, and adopting a bootstrap token (pure logic)."""

from __future__ import annotations

import pytest

from agents.tokens.service import SharedTokenStore, new_token_string
from agents.tokens.topic_table import TopicTable
from app.web.auth import required_role
from tables.tokens import Role, authorize


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("POST", "/v1/ingest", Role.PRODUCER),
        ("GET", "/v1/pipelines", Role.VIEWER),
        ("GET", "/v1/pipelines/p1/versions/3/diff/4", Role.VIEWER),
        ("POST", "/v1/pipelines", Role.EDITOR),
        ("PUT", "/v1/pipelines/p1", Role.EDITOR),
        ("DELETE", "/v1/pipelines/p1", Role.EDITOR),
        ("POST", "/v1/pipelines/p1/rollback/2", Role.EDITOR),
        ("GET", "/v1/tokens", Role.ADMIN),
        ("DELETE", "/v1/tokens/abc", Role.ADMIN),
        ("PUT", "/v1/config", Role.ADMIN),
        ("GET", "/v1/ingestion-stats", Role.VIEWER),
    ],
)
def test_required_role(method: str, path: str, role: Role) -> None:
    assert required_role(method, path) is role


def test_ingest_is_for_producers_and_admins_only() -> None:
    store = SharedTokenStore({})
    needed = required_role("POST", "/v1/ingest")
    allowed = {
        role
        for role in Role
        if authorize(store.create(name=role.value, role=role, created_by="t").info, needed)
    }
    assert allowed == {Role.PRODUCER, Role.ADMIN}


def test_topic_table_queues_writes_and_applies_mirrored_records() -> None:
    table = TopicTable("unused:9092", "tokens")
    store = SharedTokenStore(table)
    issued = store.create(name="ann", role=Role.EDITOR, created_by="t")
    pending = table.take_pending()
    assert [key for key, _, _ in pending] == [issued.info.token_id.encode()]
    assert table.take_pending() == []

    mirror = TopicTable("unused:9092", "tokens")
    for key, value, _ in pending:
        mirror.apply(key, value)
    assert SharedTokenStore(mirror).verify(issued.token) == issued.info
    mirror.apply(issued.info.token_id.encode(), b"")
    assert SharedTokenStore(mirror).verify(issued.token) is None


def test_adopting_a_bootstrap_token() -> None:
    store = SharedTokenStore({})
    token = new_token_string()
    info = store.adopt(token, name="admin", role=Role.ADMIN, created_by="bootstrap")
    assert store.verify(token) == info and info.role is Role.ADMIN
    assert store.adopt(token, name="admin", role=Role.ADMIN, created_by="bootstrap") == info
    assert store.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    with pytest.raises(ValueError, match="dnx_"):
        store.adopt("not-a-token", name="x", role=Role.ADMIN, created_by="bootstrap")
