from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from tables.pipelines import (
    ConflictError,
    GoneError,
    NotFoundError,
    PaginationError,
    PipelineStore,
    PipelineValidationError,
    VersionKind,
)
from tables.pipelines.http_params import expected_version, page_params, version_param
from tests.unit.pipeline_configs import make_config


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


def new_store(max_versions: int = 100) -> tuple[PipelineStore, dict[str, Any], dict[str, Any]]:
    pipelines: dict[str, Any] = {}
    versions: dict[str, Any] = {}
    ids = (f"p{n:03d}" for n in itertools.count(1))
    store = PipelineStore(
        pipelines, versions, clock=Clock(), id_factory=lambda: next(ids), max_versions=max_versions
    )
    return store, pipelines, versions


def with_threshold(value: int) -> dict[str, Any]:
    return make_config(
        steps=[{"type": "filter", "where": {"field": "amount", "op": "gt", "value": value}}]
    )


def test_create_assigns_id_version_1_and_author() -> None:
    store, _, _ = new_store()
    created = store.create(make_config(), author="alice")
    assert created.id == "p001"
    assert created.current_version == 1
    assert created.config["id"] == "p001"
    assert created.created_by == created.updated_by == "alice"
    assert store.get("p001") == created
    meta = store.get_version("p001", 1).meta
    assert (meta.author, meta.kind, meta.description) == ("alice", VersionKind.CREATED, "created")


def test_create_with_explicit_id_and_conflict_when_live() -> None:
    store, _, _ = new_store()
    store.create(make_config(id="orders"), author="a")
    with pytest.raises(ConflictError):
        store.create(make_config(id="orders"), author="b")


def test_create_rejects_invalid_config() -> None:
    store, pipelines, versions = new_store()
    with pytest.raises(PipelineValidationError):
        store.create(make_config(sources=[]), author="a")
    assert pipelines == {} and versions == {}


def test_update_makes_new_version_with_summary_and_metadata() -> None:
    store, _, _ = new_store()
    store.create(with_threshold(1), author="alice")
    updated = store.update("p001", with_threshold(2), author="bob", expected_version=1)
    assert updated.current_version == 2
    assert updated.updated_by == "bob"
    meta = store.get_version("p001", 2).meta
    assert meta.kind is VersionKind.UPDATED
    assert meta.previous_version == 1
    assert meta.author == "bob"
    assert meta.created_ms > store.get_version("p001", 1).meta.created_ms
    assert meta.description == "changed /steps/0/where/value"
    explicit = store.update("p001", with_threshold(3), author="bob", description="raise bar")
    assert store.get_version("p001", explicit.current_version).meta.description == "raise bar"


def test_update_with_same_config_makes_no_version() -> None:
    store, _, _ = new_store()
    store.create(with_threshold(1), author="a")
    assert store.update("p001", with_threshold(1), author="b").current_version == 1


def test_update_conflict_on_stale_expected_version() -> None:
    store, _, _ = new_store()
    store.create(with_threshold(1), author="a")
    store.update("p001", with_threshold(2), author="a", expected_version=1)
    with pytest.raises(ConflictError) as caught:
        store.update("p001", with_threshold(3), author="b", expected_version=1)
    assert caught.value.current_version == 2
    assert caught.value.status == 409
    body = caught.value.to_json()
    assert (body["status"], body["current_version"]) == (409, 2)
    assert "version 2" in body["error"]
    assert store.get("p001").current_version == 2


def test_update_rejects_other_id_and_invalid_config() -> None:
    store, _, _ = new_store()
    store.create(with_threshold(1), author="a")
    with pytest.raises(PipelineValidationError) as caught:
        store.update("p001", make_config(id="other"), author="a")
    assert caught.value.issues[0].pointer == "/id"
    with pytest.raises(PipelineValidationError):
        store.update("p001", make_config(steps=[{"type": "nope"}]), author="a")
    assert store.get("p001").current_version == 1


def test_unknown_pipeline_is_not_found_everywhere() -> None:
    store, _, _ = new_store()
    for call in (
        lambda: store.get("x"),
        lambda: store.update("x", make_config(), author="a"),
        lambda: store.rollback("x", 1, author="a"),
        lambda: store.delete("x", author="a"),
        lambda: store.list_versions("x"),
        lambda: store.get_version("x", 1),
        lambda: store.diff("x", 1, 1),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_list_is_stable_and_paginated_with_edges() -> None:
    store, _, _ = new_store()
    for n in range(5):
        store.create(with_threshold(n), author="a")
    first = store.list(page=1, page_size=2)
    assert [p.id for p in first.items] == ["p001", "p002"]
    assert (first.total, first.pages, first.has_next) == (5, 3, True)
    last = store.list(page=3, page_size=2)
    assert [p.id for p in last.items] == ["p005"] and not last.has_next
    beyond = store.list(page=4, page_size=2)
    assert beyond.items == [] and beyond.total == 5
    assert [p.id for p in store.list(page_size=100).items] == [f"p00{n}" for n in range(1, 6)]
    store.update("p001", with_threshold(99), author="a")
    assert store.list().items[0].id == "p001", "order must not change on update"


@pytest.mark.parametrize(
    ("page", "page_size", "bad"), [(0, 10, "page"), (1, 0, "page_size"), (1, 101, "page_size")]
)
def test_page_bounds_are_rejected(page: int, page_size: int, bad: str) -> None:
    store, _, _ = new_store()
    store.create(make_config(), author="a")
    for call in (
        lambda: store.list(page, page_size),
        lambda: store.list_versions("p001", page, page_size),
    ):
        with pytest.raises(PaginationError) as caught:
            call()
        assert [i.pointer for i in caught.value.issues] == [bad]
        assert caught.value.status == 422


def test_versions_list_newest_first_with_total_and_pages() -> None:
    store, _, _ = new_store()
    store.create(with_threshold(0), author="a")
    for n in range(1, 7):
        store.update("p001", with_threshold(n), author=f"u{n}")
    page1 = store.list_versions("p001", page=1, page_size=3)
    assert [m.version for m in page1.items] == [7, 6, 5]
    assert page1.total == 7 and page1.has_next
    page3 = store.list_versions("p001", page=3, page_size=3)
    assert [m.version for m in page3.items] == [1] and not page3.has_next
    assert store.list_versions("p001", page=4, page_size=3).items == []
    assert [m.author for m in page1.items] == ["u6", "u5", "u4"]


def test_only_100_versions_are_kept_older_ones_are_gone() -> None:
    store, _, versions = new_store()
    store.create(with_threshold(0), author="a")
    for n in range(1, 130):
        store.update("p001", with_threshold(n), author="a")
    head = store.get("p001")
    assert (head.current_version, head.oldest_version) == (130, 31)
    assert len(versions) == 100
    listing = store.list_versions("p001", page=1, page_size=100)
    assert listing.total == 100
    assert [m.version for m in listing.items] == list(range(130, 30, -1))
    assert store.list_versions("p001", page=2, page_size=100).items == []
    assert store.get_version("p001", 31).config["steps"][0]["where"]["value"] == 30
    with pytest.raises(GoneError, match=r"pruned.*newest 100 versions") as gone:
        store.get_version("p001", 30)
    assert gone.value.to_json()["status"] == 410
    with pytest.raises(GoneError):
        store.rollback("p001", 1, author="a")
    for missing in (0, 131, -5):
        with pytest.raises(NotFoundError):
            store.get_version("p001", missing)


def test_rollback_restores_config_as_new_version_with_metadata() -> None:
    store, _, _ = new_store()
    store.create(with_threshold(1), author="alice")
    store.update("p001", with_threshold(2), author="alice")
    store.update("p001", make_config(name="renamed"), author="alice")
    rolled = store.rollback("p001", 1, author="carol", expected_version=3)
    assert rolled.current_version == 4
    assert rolled.config == store.get_version("p001", 1).config
    meta = store.get_version("p001", 4).meta
    assert meta.kind is VersionKind.ROLLED_BACK
    assert (meta.author, meta.rollback_of, meta.previous_version) == ("carol", 1, 3)
    assert meta.description == "rollback to version 1 from version 3"
    with pytest.raises(ConflictError):
        store.rollback("p001", 2, author="carol", expected_version=3)
    with pytest.raises(NotFoundError):
        store.rollback("p001", 9, author="carol")


def test_stored_history_is_independent_of_returned_objects() -> None:
    store, _, _ = new_store()
    config = with_threshold(1)
    store.create(config, author="a")
    config["name"] = "changed by caller"
    assert store.get_version("p001", 1).config["name"] == "orders"


def test_soft_delete_hides_pipeline_and_recreate_continues_history() -> None:
    store, pipelines, _ = new_store()
    store.create(make_config(id="orders"), author="a")
    store.update("orders", with_threshold(5), author="a")
    with pytest.raises(ConflictError):
        store.delete("orders", author="b", expected_version=1)
    store.delete("orders", author="b", expected_version=2)
    assert pipelines["orders"]["deleted_by"] == "b"
    with pytest.raises(NotFoundError):
        store.get("orders")
    with pytest.raises(NotFoundError):
        store.delete("orders", author="b")
    assert store.list().total == 0
    again = store.create(make_config(id="orders", name="again"), author="c")
    assert again.current_version == 3
    assert store.get_version("orders", 3).meta.previous_version == 2
    assert store.get_version("orders", 2).meta.kind is VersionKind.UPDATED


def test_purge_erases_everything() -> None:
    store, pipelines, versions = new_store()
    store.create(make_config(), author="a")
    store.update("p001", with_threshold(3), author="a")
    store.delete("p001", author="a")
    store.purge("p001")
    assert pipelines == {} and versions == {}
    with pytest.raises(NotFoundError):
        store.purge("p001")


def test_diff_between_versions() -> None:
    store, _, _ = new_store()
    store.create(with_threshold(1), author="a")
    store.update("p001", with_threshold(2), author="a")
    diff = store.diff("p001", 1, 2)
    assert diff.patch == [{"op": "replace", "path": "/steps/0/where/value", "value": 2}]
    assert [c.to_json() for c in diff.changes] == [
        {"path": "/steps/0/where/value", "kind": "changed", "old": 1, "new": 2}
    ]
    assert store.diff("p001", 2, 2).patch == []
    with pytest.raises(NotFoundError):
        store.diff("p001", 1, 3)


def test_small_retention_prunes_across_recreate() -> None:
    store, _, versions = new_store(max_versions=3)
    store.create(make_config(id="x"), author="a")
    for n in range(4):
        store.update("x", with_threshold(n), author="a")
    assert sorted(versions) == ["x/0000000003", "x/0000000004", "x/0000000005"]
    assert store.get("x").oldest_version == 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [({}, (1, 20)), ({"page": "3", "page_size": "7"}, (3, 7)), ({"page": ""}, (1, 20))],
)
def test_page_params(query: dict[str, str], expected: tuple[int, int]) -> None:
    assert page_params(query) == expected


def test_page_params_reject_non_integers() -> None:
    with pytest.raises(PaginationError) as caught:
        page_params({"page_size": "ten"})
    assert caught.value.issues[0].pointer == "page_size"


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("*", None), ('"4"', 4), ("4", 4), ('W/"12"', 12)],
)
def test_if_match_header(header: str | None, expected: int | None) -> None:
    assert expected_version(header) == expected


def test_bad_if_match_and_version_segment_are_422() -> None:
    with pytest.raises(PipelineValidationError) as caught:
        expected_version('"abc"')
    assert caught.value.to_json()["issues"] == [
        {"pointer": "If-Match", "message": 'must be a pipeline version such as "3"'}
    ]
    assert caught.value.to_json()["error"].startswith("invalid request parameter")
    with pytest.raises(PipelineValidationError):
        version_param("v2")
    assert version_param("12") == 12


def test_state_is_plain_json_and_survives_a_reload() -> None:
    """What a Faust table with a JSON serializer recovers from its changelog after a restart."""
    store, pipelines, versions = new_store(max_versions=5)
    store.create(with_threshold(1), author="a")
    for n in range(2, 9):
        store.update("p001", with_threshold(n), author=f"u{n}")
    store.rollback("p001", 6, author="r")
    reloaded = PipelineStore(
        orjson.loads(orjson.dumps(pipelines)), orjson.loads(orjson.dumps(versions)), max_versions=5
    )
    assert reloaded.get("p001") == store.get("p001")
    assert reloaded.list_versions("p001", page_size=10) == store.list_versions("p001", page_size=10)
    assert reloaded.get_version("p001", 9).meta.rollback_of == 6
    with pytest.raises(GoneError):
        reloaded.get_version("p001", 4)
