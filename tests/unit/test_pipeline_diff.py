from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.pipelines import apply_patch, diff_configs
from tables.pipelines.diff import PatchError
from tables.pipelines.jsonpointer import parse_pointer, to_pointer
from tables.pipelines.jsonvalues import json_equal

KEYS = st.sampled_from(["a", "b", "c", "x/y", "t~0", "~", "/", "", "0"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.sampled_from(["", "s", "t"]),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON, JSON)
def test_applying_the_diff_to_v1_yields_v2(old: Any, new: Any) -> None:
    diff = diff_configs(old, new)
    assert json_equal(apply_patch(old, diff.patch), new)
    assert len(diff.changes) == len(diff.patch)
    if json_equal(old, new):
        assert diff.patch == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=12), st.lists(st.integers(0, 5), max_size=12))
def test_list_diffs_apply_and_touch_each_element_at_most_once(
    old: list[int], new: list[int]
) -> None:
    patch = diff_configs(old, new).patch
    assert apply_patch(old, patch) == new
    assert len(patch) <= len(old) + len(new)
    if old[: len(new)] == new or new[: len(old)] == old:
        assert len(patch) == abs(len(old) - len(new)), "pure appends/truncations only"


def test_inserting_a_step_is_one_add() -> None:
    steps = [{"type": "select", "fields": [str(n)]} for n in range(4)]
    new_step = {"type": "map", "drop": ["x"]}
    diff = diff_configs({"steps": steps}, {"steps": [steps[0], new_step, *steps[1:]]})
    assert diff.patch == [{"op": "add", "path": "/steps/1", "value": new_step}]
    assert diff.changes[0].to_json() == {"path": "/steps/1", "kind": "added", "new": new_step}


def test_removed_members_and_escaped_keys() -> None:
    diff = diff_configs({"a/b": 1, "m~n": 2, "keep": 0}, {"keep": 0, "new": [1]})
    assert diff.patch == [
        {"op": "remove", "path": "/a~1b"},
        {"op": "remove", "path": "/m~0n"},
        {"op": "add", "path": "/new", "value": [1]},
    ]
    assert [c.to_json() for c in diff.changes][:1] == [
        {"path": "/a~1b", "kind": "removed", "old": 1}
    ]


def test_bool_and_number_are_different_values() -> None:
    assert diff_configs({"v": 1}, {"v": True}).patch == [
        {"op": "replace", "path": "/v", "value": True}
    ]
    assert diff_configs([1.0], [1]).patch == []


def test_patch_is_independent_of_later_changes_to_configs() -> None:
    new = {"a": {"b": [1]}}
    patch = diff_configs({}, new).patch
    new["a"]["b"].append(2)
    assert patch[0]["value"] == {"b": [1]}


def test_apply_patch_supports_all_rfc6902_operations() -> None:
    document = {"a": [1, 2], "b": {"c": 3}}
    patched = apply_patch(
        document,
        [
            {"op": "test", "path": "/b/c", "value": 3},
            {"op": "copy", "from": "/b", "path": "/d"},
            {"op": "move", "from": "/b/c", "path": "/a/-"},
            {"op": "replace", "path": "/d/c", "value": 4},
            {"op": "add", "path": "/a/0", "value": 0},
            {"op": "remove", "path": "/a/1"},
        ],
    )
    assert patched == {"a": [0, 2, 3], "b": {}, "d": {"c": 4}}
    assert document == {"a": [1, 2], "b": {"c": 3}}, "input must be untouched"
    assert apply_patch(document, [{"op": "replace", "path": "", "value": 5}]) == 5


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "test", "path": "/a", "value": 2},
        {"op": "remove", "path": "/missing"},
        {"op": "replace", "path": "/missing", "value": 1},
        {"op": "add", "path": "/list/5", "value": 1},
        {"op": "add", "path": "/list/01", "value": 1},
        {"op": "move", "from": "/obj", "path": "/obj/inner"},
        {"op": "frobnicate", "path": "/a"},
        {"op": "add", "path": "/a/b", "value": 1},
    ],
)
def test_apply_patch_rejects_bad_operations(operation: dict[str, Any]) -> None:
    with pytest.raises(PatchError):
        apply_patch({"a": 1, "list": [0], "obj": {}}, [operation])


@given(st.lists(st.text(alphabet="ab~/0", max_size=4), max_size=4))
@settings(max_examples=200, deadline=None)
def test_pointer_escaping_round_trips(tokens: list[str]) -> None:
    assert parse_pointer(to_pointer(tokens)) == tokens
