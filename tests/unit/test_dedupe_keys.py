"""Fuzzy keys: stable across key order, blind to ignored fields, sensitive to everything else."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.dedupe import canonical_json, fuzzy_key

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=6), json_values, max_size=6)


def reversed_order(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: reversed_order(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_order(item) for item in value]
    return value


@settings(max_examples=200, deadline=None)
@given(payloads)
def test_fuzzy_key_does_not_depend_on_key_order(payload: dict[str, Any]) -> None:
    assert fuzzy_key(reversed_order(payload)) == fuzzy_key(payload)


@settings(max_examples=200, deadline=None)
@given(payloads, json_values, json_values)
def test_ignored_fields_do_not_change_the_key(
    payload: dict[str, Any], first: Any, second: Any
) -> None:
    ignore = ("ts", "meta.trace_id")
    one = {**payload, "ts": first, "meta": {"trace_id": first, "keep": 1}}
    two = {**payload, "ts": second, "meta": {"keep": 1, "trace_id": second}}
    assert fuzzy_key(one, ignore) == fuzzy_key(two, ignore)


@settings(max_examples=200, deadline=None)
@given(payloads, st.integers(), st.integers())
def test_other_fields_change_the_key(payload: dict[str, Any], first: int, second: int) -> None:
    one = {**payload, "amount": first}
    two = {**payload, "amount": second}
    assert (fuzzy_key(one, ("ts",)) == fuzzy_key(two, ("ts",))) == (first == second)


def test_canonical_json_is_sorted_compact_and_leaves_input_alone() -> None:
    payload = {"b": 1, "a": {"y": [1, 2], "x": None}, "ts": 5}
    before = copy.deepcopy(payload)
    expected = b'{"a":{"x":null,"y":[1,2]},"b":1}'
    assert canonical_json(payload, ("ts", "a.missing", "zz.q")) == expected
    assert payload == before


def test_fuzzy_key_is_128_bit_hex() -> None:
    key = fuzzy_key({"a": 1})
    assert len(key) == 32
    int(key, 16)
