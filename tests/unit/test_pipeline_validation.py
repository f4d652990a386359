from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tables.pipelines import (
    ConfigIssue,
    PipelineValidationError,
    check_pipeline_config,
    pipeline_json_schema,
    validate_pipeline_config,
)
from tests.unit.pipeline_configs import make_config

TUMBLING = {"type": "tumbling", "name": "per_minute", "size": "1m", "aggregate": {"*": ["count"]}}


def pointers(config: Any) -> list[str]:
    return [issue.pointer for issue in validate_pipeline_config(config)]


def test_published_schema_is_a_valid_2020_12_schema_and_a_copy() -> None:
    schema = pipeline_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    schema["properties"].clear()
    assert pipeline_json_schema()["properties"], "callers must not be able to alter the schema"


def test_valid_config_has_no_issues_and_check_returns_it() -> None:
    config = make_config()
    assert validate_pipeline_config(config) == []
    assert check_pipeline_config(config) is config


def test_every_step_type_validates() -> None:
    steps = [
        {"type": "validate", "schema": {"type": "object", "required": ["id"]}},
        {"type": "dedupe", "mode": "fuzzy", "ignore_fields": ["ts"], "window": "10m"},
        {"type": "dedupe", "mode": "exact", "window": 60000, "late_policy": "flag"},
        {"type": "dedupe", "mode": "bloom", "bloom_capacity": 1000, "bloom_fp_rate": 0.001},
        {"type": "filter", "where": {"not": {"field": "x", "op": "exists"}}},
        {"type": "map", "drop": ["secret"]},
        {"type": "select", "fields": ["id", "payload.amount"]},
        {"type": "window", "window": TUMBLING},
    ]
    assert validate_pipeline_config(make_config(steps=steps)) == []


def test_bad_operator_points_at_op_inside_nested_expression() -> None:
    where = {"or": [{"field": "a", "op": "eq", "value": 1}, {"field": "b", "op": "bigger"}]}
    config = make_config(
        steps=[{"type": "select", "fields": ["a"]}, {"type": "filter", "where": where}]
    )
    issues = validate_pipeline_config(config)
    assert [i.pointer for i in issues] == ["/steps/1/where/or/1/op"]
    assert "bigger" in issues[0].message


def test_missing_and_unknown_fields_are_reported_at_their_own_path() -> None:
    config = make_config(
        steps=[{"type": "select"}, {"type": "map", "drop": ["a"], "colour": "red"}],
        sink={"type": "topic"},
    )
    assert pointers(config) == ["/steps/0/fields", "/steps/1/colour", "/sink/topic"]


def test_missing_top_level_fields() -> None:
    assert pointers({"name": "x"}) == ["/sink", "/sources", "/steps"]  # missing: by name
    assert pointers([]) == [""]


def test_unknown_step_type_points_at_type() -> None:
    issues = validate_pipeline_config(make_config(steps=[{"type": "explode"}]))
    assert [i.pointer for i in issues] == ["/steps/0/type"]


@pytest.mark.parametrize(
    ("comparison", "pointer"),
    [
        ({"field": "a", "op": "in", "value": 3}, "/steps/0/where/value"),
        ({"field": "a", "op": "gt", "value": [1]}, "/steps/0/where/value"),
        ({"field": "a", "op": "starts_with", "value": 1}, "/steps/0/where/value"),
        ({"field": "a", "op": "eq"}, "/steps/0/where/value"),
        ({"field": "a..b", "op": "exists"}, "/steps/0/where/field"),
        ({"and": []}, "/steps/0/where/and"),
        ({"and": [{"field": "a", "op": "exists"}], "extra": 1}, "/steps/0/where/extra"),
    ],
)
def test_comparison_shape_errors(comparison: dict[str, Any], pointer: str) -> None:
    assert pointers(make_config(steps=[{"type": "filter", "where": comparison}])) == [pointer]


def test_issues_are_in_document_order_with_numeric_indexes() -> None:
    steps: list[dict[str, Any]] = [{"type": "select", "fields": ["a"]} for _ in range(12)]
    steps[2] = {"type": "bogus"}
    steps[11] = {"type": "bogus"}
    assert pointers(make_config(steps=steps)) == ["/steps/2/type", "/steps/11/type"]


def test_semantic_checks() -> None:
    steps = [
        {"type": "dedupe", "mode": "exact", "window": "2h"},
        {"type": "dedupe", "mode": "bloom", "clock": "event_time"},
        {"type": "map"},
        {"type": "validate", "schema": {"type": "nonsense"}},
        {"type": "dedupe", "mode": "exact", "window": "1h", "late_horizon": "10m"},
    ]
    config = make_config(steps=steps, sink={"type": "topic", "topic": "orders.raw"})
    assert pointers(config) == [
        "/steps/0/window",
        "/steps/1/clock",
        "/steps/2",
        "/steps/3/schema/type",
        "/steps/4/late_horizon",
        "/sink/topic",
    ]


def test_bad_duration_has_a_readable_message() -> None:
    issues = validate_pipeline_config(
        make_config(steps=[{"type": "dedupe", "mode": "exact", "window": "5 minutes"}])
    )
    assert issues[0].pointer == "/steps/0/window"
    assert "duration" in issues[0].message


def test_too_deep_expression_is_rejected() -> None:
    where: dict[str, Any] = {"field": "a", "op": "exists"}
    for _ in range(40):
        where = {"not": where}
    assert pointers(make_config(steps=[{"type": "filter", "where": where}])) == ["/steps/0/where"]


@pytest.mark.parametrize(
    ("spec", "pointer"),
    [
        ({**TUMBLING, "size": "-1m"}, "/steps/0/window/size"),
        ({**TUMBLING, "type": "sliding", "step": "2m"}, "/steps/0/window/step"),
        ({**TUMBLING, "aggregate": {}}, "/steps/0/window/aggregate"),
        ({"type": "tumbling", "size": "1m", "aggregate": {"*": ["count"]}}, "/steps/0/window/name"),
        ({**TUMBLING, "type": "hexagonal"}, "/steps/0/window/type"),
    ],
)
def test_window_spec_is_checked_by_the_window_engine(spec: dict[str, Any], pointer: str) -> None:
    issues = validate_pipeline_config(make_config(steps=[{"type": "window", "window": spec}]))
    assert [i.pointer for i in issues] == [pointer]
    assert issues[0].message


def test_window_validator_can_be_replaced() -> None:
    def needs_size_in_ms(spec: dict[str, Any]) -> list[ConfigIssue]:
        return [] if isinstance(spec.get("size"), int) else [ConfigIssue("/size", "ms only")]

    config = make_config(steps=[{"type": "window", "window": TUMBLING}])
    issues = validate_pipeline_config(config, window_validator=needs_size_in_ms)
    assert issues == [ConfigIssue("/steps/0/window/size", "ms only")]


def test_check_raises_422_error_with_all_issues() -> None:
    with pytest.raises(PipelineValidationError) as caught:
        check_pipeline_config(make_config(name="", sink={"type": "connector"}))
    error = caught.value
    assert error.status == 422
    assert [i["pointer"] for i in error.to_json()["issues"]] == ["/name", "/sink/name"]
    assert "/name" in str(error)


def test_sink_connector_and_id_pattern() -> None:
    assert pointers(make_config(sink={"type": "connector", "name": "s3"})) == []
    assert pointers(make_config(id="bad id")) == ["/id"]
    assert pointers(make_config(sources=["a", "a"])) == ["/sources"]
