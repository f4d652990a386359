"""The JSON Schema (draft 2020-12) of a pipeline config, published at ``GET /v1/pipelines/schema``.

Polymorphic objects (steps, sinks, filter expressions) are discriminated with ``if``/``then`` on
their tag instead of ``oneOf``, so a validator reports the error inside the intended branch and the
422 answer can point at the exact bad field (``/steps/2/where/op``) rather than at the whole step.
"""

from __future__ import annotations

import copy
from typing import Any

from tables.durations import DURATION_PATTERN

SCHEMA_ID = "urn:datanexus:pipeline-config:1"
STEP_TYPES = ("validate", "dedupe", "filter", "map", "select", "window")
COMPARISON_OPS = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "ends_with",
    "exists",
    "not_exists",
)
DEDUPE_MODES = ("exact", "fuzzy", "bloom", "off")
DEDUPE_LATE_POLICIES = ("accept", "flag", "drop", "dlq")
DEDUPE_CLOCKS = ("receive_time", "event_time")

_TOPIC = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,249}$"}
_FIELD_PATH = {"type": "string", "pattern": r"^[^.]+(\.[^.]+)*$", "maxLength": 512}
_DURATION = {
    "oneOf": [
        {"type": "string", "pattern": DURATION_PATTERN},
        {"type": "integer", "minimum": 0},
    ]
}
_STEP_COMMON = {"type": {"const": None}, "name": {"type": "string", "maxLength": 200}}


def _step(step_type: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    common = copy.deepcopy(_STEP_COMMON)
    common["type"] = {"const": step_type}
    return {
        "type": "object",
        "properties": {**common, **properties},
        "required": ["type", *required],
        "additionalProperties": False,
    }


def _tagged(tag: str, value: str, ref: str) -> dict[str, Any]:
    return {
        "if": {"properties": {tag: {"const": value}}, "required": [tag]},
        "then": {"$ref": ref},
    }


def _expression_defs() -> dict[str, Any]:
    ops_with_value = [op for op in COMPARISON_OPS if op not in ("exists", "not_exists")]
    return {
        "expression": {
            "type": "object",
            "allOf": [
                {"if": {"required": ["and"]}, "then": {"$ref": "#/$defs/andExpression"}},
                {"if": {"required": ["or"]}, "then": {"$ref": "#/$defs/orExpression"}},
                {"if": {"required": ["not"]}, "then": {"$ref": "#/$defs/notExpression"}},
                {
                    "if": {
                        "not": {
                            "anyOf": [
                                {"required": ["and"]},
                                {"required": ["or"]},
                                {"required": ["not"]},
                            ]
                        }
                    },
                    "then": {"$ref": "#/$defs/comparison"},
                },
            ],
        },
        "andExpression": {
            "type": "object",
            "properties": {
                "and": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/expression"}}
            },
            "required": ["and"],
            "additionalProperties": False,
        },
        "orExpression": {
            "type": "object",
            "properties": {
                "or": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/expression"}}
            },
            "required": ["or"],
            "additionalProperties": False,
        },
        "notExpression": {
            "type": "object",
            "properties": {"not": {"$ref": "#/$defs/expression"}},
            "required": ["not"],
            "additionalProperties": False,
        },
        "comparison": {
            "type": "object",
            "description": "Compare the field at a dotted path; a missing field never matches "
            "(except not_exists), values of different JSON types never order.",
            "properties": {
                "field": _FIELD_PATH,
                "op": {"enum": list(COMPARISON_OPS)},
                "value": {},
            },
            "required": ["field", "op"],
            "additionalProperties": False,
            "allOf": [
                {
                    "if": {"properties": {"op": {"enum": ops_with_value}}, "required": ["op"]},
                    "then": {"required": ["value"]},
                },
                {
                    "if": {"properties": {"op": {"enum": ["in", "not_in"]}}, "required": ["op"]},
                    "then": {"properties": {"value": {"type": "array"}}},
                },
                {
                    "if": {
                        "properties": {"op": {"enum": ["gt", "gte", "lt", "lte"]}},
                        "required": ["op"],
                    },
                    "then": {"properties": {"value": {"type": ["number", "string"]}}},
                },
                {
                    "if": {
                        "properties": {"op": {"enum": ["starts_with", "ends_with"]}},
                        "required": ["op"],
                    },
                    "then": {"properties": {"value": {"type": "string"}}},
                },
            ],
        },
    }


def _step_defs() -> dict[str, Any]:
    return {
        "step": {
            "type": "object",
            "properties": {"type": {"enum": list(STEP_TYPES)}},
            "required": ["type"],
            "allOf": [_tagged("type", t, f"#/$defs/{t}Step") for t in STEP_TYPES],
        },
        "validateStep": _step(
            "validate",
            {"schema": {"type": "object", "description": "JSON Schema (2020-12) per record"}},
            ["schema"],
        ),
        "dedupeStep": _step(
            "dedupe",
            {
                "mode": {"enum": list(DEDUPE_MODES)},
                "window": {**_DURATION, "description": "default 5m, 1s..1h"},
                "clock": {"enum": list(DEDUPE_CLOCKS), "description": "default receive_time"},
                "late_policy": {"enum": list(DEDUPE_LATE_POLICIES)},
                "late_horizon": {**_DURATION, "description": "how long late duplicates are seen"},
                "ignore_fields": {"type": "array", "items": _FIELD_PATH},
                "bloom_capacity": {"type": "integer", "minimum": 1},
                "bloom_fp_rate": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
            },
            ["mode"],
        ),
        "filterStep": _step("filter", {"where": {"$ref": "#/$defs/expression"}}, ["where"]),
        "mapStep": _step(
            "map",
            {
                "rename": {
                    "type": "object",
                    "propertyNames": _FIELD_PATH,
                    "additionalProperties": _FIELD_PATH,
                },
                "set": {
                    "type": "object",
                    "propertyNames": _FIELD_PATH,
                    "description": "dotted path -> constant",
                },
                "drop": {"type": "array", "items": _FIELD_PATH},
            },
            [],
        ),
        "selectStep": _step(
            "select", {"fields": {"type": "array", "minItems": 1, "items": _FIELD_PATH}}, ["fields"]
        ),
        "windowStep": _step(
            "window",
            {
                "window": {
                    "type": "object",
                    "description": "window spec, validated by the window engine",
                    "properties": {"type": {"type": "string"}},
                    "required": ["type"],
                }
            },
            ["window"],
        ),
    }


def _sink_defs() -> dict[str, Any]:
    return {
        "sink": {
            "type": "object",
            "properties": {"type": {"enum": ["topic", "connector"]}},
            "required": ["type"],
            "allOf": [
                _tagged("type", "topic", "#/$defs/topicSink"),
                _tagged("type", "connector", "#/$defs/connectorSink"),
            ],
        },
        "topicSink": {
            "type": "object",
            "properties": {"type": {"const": "topic"}, "topic": _TOPIC},
            "required": ["type", "topic"],
            "additionalProperties": False,
        },
        "connectorSink": {
            "type": "object",
            "properties": {
                "type": {"const": "connector"},
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
            },
            "required": ["type", "name"],
            "additionalProperties": False,
        },
    }


_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "DataNexus pipeline config",
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 4000},
        "sources": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "uniqueItems": True,
            "items": _TOPIC,
        },
        "steps": {"type": "array", "maxItems": 100, "items": {"$ref": "#/$defs/step"}},
        "sink": {"$ref": "#/$defs/sink"},
    },
    "required": ["name", "sources", "steps", "sink"],
    "additionalProperties": False,
    "$defs": {**_step_defs(), **_sink_defs(), **_expression_defs()},
}


def pipeline_json_schema() -> dict[str, Any]:
    """A fresh copy, so callers may annotate the answer without changing the validator's schema."""
    return copy.deepcopy(_SCHEMA)


def raw_schema() -> dict[str, Any]:
    """The shared schema object, for building the validator once (do not mutate)."""
    return _SCHEMA
