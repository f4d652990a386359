"""Builds the transform chain (``transforms`` / ``predicates`` keys) from a connector config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.connect.configdef import ConfigError, ConfigKey, Validation
from agents.connect.predicates import negated, predicate_class
from agents.connect.transforms import transform_class
from agents.connect.types import ConfigType, ConnectRecord, Predicate, Transform


def _aliases(config: Mapping[str, Any], key: str) -> list[str]:
    raw = config.get(key) or ""
    if isinstance(raw, list):
        return [str(a).strip() for a in raw if str(a).strip()]
    return [a.strip() for a in str(raw).split(",") if a.strip()]


def _sub(config: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}


def _parse_keys(
    keys: Sequence[ConfigKey], raw: Mapping[str, Any], prefix: str, errors: list[tuple[str, str]]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in keys:
        try:
            values[key.name] = key.parse(raw.get(key.name))
        except ConfigError as exc:
            errors.append((prefix + key.name, str(exc).replace(key.name, prefix + key.name, 1)))
    return values


def build_chain(config: Mapping[str, Any]) -> tuple[list[Transform], list[tuple[str, str]]]:
    """The transforms in order, and (key, error) pairs for every bad transform/predicate key."""
    errors: list[tuple[str, str]] = []
    predicates: dict[str, Predicate] = {}
    for alias in _aliases(config, "predicates"):
        prefix = f"predicates.{alias}."
        raw = _sub(config, prefix)
        cls = predicate_class(str(raw.get("type", "")))
        if cls is None:
            errors.append((prefix + "type", f"Invalid value {raw.get('type')} for {prefix}type"))
            continue
        values = _parse_keys(cls.KEYS, raw, prefix, errors)
        if len(values) == len(cls.KEYS):
            predicates[alias] = cls(values)
    chain: list[Transform] = []
    for alias in _aliases(config, "transforms"):
        prefix = f"transforms.{alias}."
        raw = _sub(config, prefix)
        found = transform_class(str(raw.get("type", "")))
        if found is None:
            errors.append(
                (prefix + "type", f"Invalid value {raw.get('type')} for configuration {prefix}type")
            )
            continue
        cls, on_key = found
        values = _parse_keys(cls.KEYS, raw, prefix, errors)
        negate_key = ConfigKey("negate", ConfigType.BOOLEAN, default=False)
        negate = _parse_keys([negate_key], raw, prefix, errors).get("negate", False)
        predicate_alias = raw.get("predicate")
        if predicate_alias and predicate_alias not in _aliases(config, "predicates"):
            errors.append(
                (prefix + "predicate", f"Predicate {predicate_alias} is not in 'predicates'")
            )
            continue
        if len(values) != len(cls.KEYS):
            continue
        try:
            transform = cls(values, on_key)
        except (ValueError, KeyError) as exc:
            errors.append((prefix + "type", f"{alias}: {exc}"))
            continue
        if predicate_alias:
            predicate = predicates.get(predicate_alias)
            if predicate is None:
                continue
            chain.append(_conditional(transform, negated(predicate, negate)))
        else:
            chain.append(transform)
    return chain, errors


def _conditional(transform: Transform, predicate: Predicate) -> Transform:
    def apply(record: ConnectRecord) -> ConnectRecord | None:
        return transform(record) if predicate(record) else record

    return apply


def apply_chain(chain: Sequence[Transform], record: ConnectRecord) -> ConnectRecord | None:
    current: ConnectRecord | None = record
    for transform in chain:
        if current is None:
            return None
        current = transform(current)
    return current


def add_chain_errors(validation: Validation, config: Mapping[str, Any]) -> list[Transform]:
    chain, errors = build_chain(config)
    for key, message in errors:
        validation.add_error(key, message)
    return chain
