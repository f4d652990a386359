"""Single message transforms (Kafka's SMTs) as pure functions of a ConnectRecord.

Each class is built from its parsed config keys and works on the record's key or value
(``$Key`` / ``$Value``); struct schemas from the JsonConverter envelope are kept in step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from agents.connect.configdef import ConfigKey, one_of
from agents.connect.timestamps import CONNECT_LOGICAL, from_datetime, to_datetime
from agents.connect.types import ConfigType, ConnectorError, ConnectRecord, ConnectSchema

PREFIX = "org.apache.kafka.connect.transforms."
CAST_TYPES = ("int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string")
_INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


class FieldTransform:
    """Base for transforms of a record's key or value."""

    KEYS: tuple[ConfigKey, ...] = ()

    def __init__(self, values: Mapping[str, Any], on_key: bool) -> None:
        self.on_key = on_key

    def _target(self, record: ConnectRecord) -> tuple[Any, ConnectSchema | None]:
        if self.on_key:
            return record.key, record.key_schema
        return record.value, record.value_schema

    def _replace(
        self, record: ConnectRecord, data: Any, schema: ConnectSchema | None
    ) -> ConnectRecord:
        if self.on_key:
            return record.with_(key=data, key_schema=schema)
        return record.with_(value=data, value_schema=schema)

    def _struct(self, data: Any, what: str) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ConnectorError(f"{what} requires a struct/map, got {type(data).__name__}")
        return dict(data)


def _fields(schema: ConnectSchema | None) -> list[dict[str, Any]] | None:
    if schema is None or schema.get("type") != "struct":
        return None
    return [dict(f) for f in schema.get("fields", [])]


def _with_fields(schema: ConnectSchema, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {**schema, "fields": fields}


def _split_field(spec: str) -> tuple[str, bool]:
    """InsertField's ``name!`` (required) / ``name?`` (optional) suffixes."""
    if spec.endswith("!"):
        return spec[:-1], False
    return spec.removesuffix("?"), True


class InsertField(FieldTransform):
    KEYS = (
        ConfigKey("topic.field", ConfigType.STRING, default=None),
        ConfigKey("partition.field", ConfigType.STRING, default=None),
        ConfigKey("offset.field", ConfigType.STRING, default=None),
        ConfigKey("timestamp.field", ConfigType.STRING, default=None),
        ConfigKey("static.field", ConfigType.STRING, default=None),
        ConfigKey("static.value", ConfigType.STRING, default=None),
    )

    def __init__(self, values: Mapping[str, Any], on_key: bool) -> None:
        super().__init__(values, on_key)
        self._inserts: list[tuple[str, bool, str, Callable[[ConnectRecord], Any]]] = []
        static = values.get("static.value")
        getters: list[tuple[str, str, Callable[[ConnectRecord], Any]]] = [
            ("topic.field", "string", lambda r: r.topic),
            ("partition.field", "int32", lambda r: r.partition),
            ("offset.field", "int64", lambda r: r.kafka_offset),
            ("timestamp.field", "int64", lambda r: r.timestamp),
            ("static.field", "string", lambda r: static),
        ]
        for key, field_type, getter in getters:
            spec = values.get(key)
            if spec:
                name, optional = _split_field(spec)
                self._inserts.append((name, optional, field_type, getter))

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        data, schema = self._target(record)
        if data is None:
            return record
        struct = self._struct(data, "InsertField")
        fields = _fields(schema)
        for name, optional, field_type, getter in self._inserts:
            struct[name] = getter(record)
            if fields is not None and all(f["field"] != name for f in fields):
                fields.append({"field": name, "type": field_type, "optional": optional})
        new_schema = _with_fields(schema, fields) if schema and fields is not None else schema
        return self._replace(record, struct, new_schema)


def _renames(_key: str, value: Any) -> str | None:
    bad = [pair for pair in value if pair.count(":") != 1 or not all(pair.split(":"))]
    return f"Invalid rename mappings: {bad}" if bad else None


class ReplaceField(FieldTransform):
    KEYS = (
        ConfigKey("exclude", ConfigType.LIST, default=[]),
        ConfigKey("include", ConfigType.LIST, default=[]),
        ConfigKey("renames", ConfigType.LIST, default=[], validator=_renames),
    )

    def __init__(self, values: Mapping[str, Any], on_key: bool) -> None:
        super().__init__(values, on_key)
        self._exclude = set(values["exclude"])
        self._include = set(values["include"])
        self._renames = dict(pair.split(":") for pair in values["renames"])

    def _keep(self, name: str) -> bool:
        return name not in self._exclude and (not self._include or name in self._include)

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        data, schema = self._target(record)
        if data is None:
            return record
        struct = self._struct(data, "ReplaceField")
        out = {self._renames.get(k, k): v for k, v in struct.items() if self._keep(k)}
        fields = _fields(schema)
        new_schema: ConnectSchema | None = schema
        if schema is not None and fields is not None:
            kept = [
                {**f, "field": self._renames.get(f["field"], f["field"])}
                for f in fields
                if self._keep(f["field"])
            ]
            new_schema = _with_fields(schema, kept)
        return self._replace(record, out, new_schema)


def _masked(value: Any, replacement: str | None) -> Any:
    if replacement is not None:
        if isinstance(value, bool):
            return replacement.lower() == "true"
        if isinstance(value, int):
            return int(replacement)
        if isinstance(value, float):
            return float(replacement)
        return replacement
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0
    if isinstance(value, float):
        return 0.0
    if isinstance(value, Decimal):
        return Decimal(0)
    if isinstance(value, str):
        return ""
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return None


class MaskField(FieldTransform):
    KEYS = (
        ConfigKey("fields", ConfigType.LIST, validator=lambda k, v: None if v else "empty list"),
        ConfigKey("replacement", ConfigType.STRING, default=None),
    )

    def __init__(self, values: Mapping[str, Any], on_key: bool) -> None:
        super().__init__(values, on_key)
        self._fields = list(values["fields"])
        self._replacement: str | None = values.get("replacement")

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        data, schema = self._target(record)
        if data is None:
            return record
        struct = self._struct(data, "MaskField")
        for name in self._fields:
            if name in struct:
                try:
                    struct[name] = _masked(struct[name], self._replacement)
                except ValueError as exc:
                    raise ConnectorError(f"MaskField cannot mask {name}: {exc}") from None
        return self._replace(record, struct, schema)


def cast_value(value: Any, target: str) -> Any:
    """Cast like Kafka's Cast SMT (integers wrap to their width, strings parse)."""
    if value is None:
        return None
    if isinstance(value, datetime | date | time):
        if target == "string":
            return value.isoformat()
        raise ConnectorError(f"Cast cannot turn a {type(value).__name__} into {target}")
    try:
        if target in _INT_BITS:
            if isinstance(value, str):
                number = int(float(value)) if "." in value else int(value)
            else:
                number = int(value)
            bits = _INT_BITS[target]
            return (number + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))
        if target in {"float32", "float64"}:
            return float(value)
        if target == "boolean":
            if isinstance(value, str):
                return value.strip().lower() == "true"
            return bool(value)
        if target == "string":
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConnectorError(f"Cast cannot turn {value!r} into {target}: {exc}") from None
    raise ConnectorError(f"Cast has no target type {target}")


def _cast_spec(_key: str, value: Any) -> str | None:
    if not value:
        return "Must specify at least one field to cast."
    for part in value:
        target = part.rpartition(":")[2]
        if target not in CAST_TYPES:
            return f"Invalid type found in casting spec: {target}"
    if any(":" not in p for p in value) and len(value) > 1:
        return "Cast to a whole-value type must be the only spec"
    return None


class Cast(FieldTransform):
    KEYS = (ConfigKey("spec", ConfigType.LIST, validator=_cast_spec),)

    def __init__(self, values: Mapping[str, Any], on_key: bool) -> None:
        super().__init__(values, on_key)
        spec = list(values["spec"])
        self._whole = spec[0] if ":" not in spec[0] else None
        self._fields = dict(p.rsplit(":", 1) for p in spec if ":" in p)

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        data, schema = self._target(record)
        if data is None:
            return record
        if self._whole is not None:
            whole_schema = {**schema, "type": self._whole} if schema is not None else None
            return self._replace(record, cast_value(data, self._whole), whole_schema)
        struct = self._struct(data, "Cast")
        for name, target in self._fields.items():
            if name in struct:
                struct[name] = cast_value(struct[name], target)
        fields = _fields(schema)
        new_schema: ConnectSchema | None = schema
        if schema is not None and fields is not None:
            new_schema = _with_fields(
                schema,
                [
                    {**f, "type": self._fields[f["field"]]} if f["field"] in self._fields else f
                    for f in fields
                ],
            )
        return self._replace(record, struct, new_schema)


class TimestampConverter(FieldTransform):
    KEYS = (
        ConfigKey("field", ConfigType.STRING, default=""),
        ConfigKey(
            "target.type",
            ConfigType.STRING,
            validator=one_of("string", "unix", "date", "time", "timestamp"),
        ),
        ConfigKey("format", ConfigType.STRING, default=""),
        ConfigKey(
            "unix.precision",
            ConfigType.STRING,
            default="milliseconds",
            validator=one_of("seconds", "milliseconds", "microseconds", "nanoseconds"),
        ),
    )

    def __init__(self, values: Mapping[str, Any], on_key: bool) -> None:
        super().__init__(values, on_key)
        self._field = values["field"]
        raw_target = values["target.type"]
        self._target_type = raw_target if raw_target in {"string", "unix"} else raw_target.title()
        self._format = values["format"] or None
        self._precision = values["unix.precision"]

    def _convert(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            moment = to_datetime(value, self._format, self._precision)
        except (ValueError, TypeError) as exc:
            raise ConnectorError(f"TimestampConverter cannot read {value!r}: {exc}") from None
        return from_datetime(moment, self._target_type, self._format, self._precision)

    def _field_schema(self) -> dict[str, Any]:
        connect_type, logical = CONNECT_LOGICAL[self._target_type]
        schema: dict[str, Any] = {"type": connect_type, "optional": True}
        if logical:
            schema["name"] = logical
        return schema

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        data, schema = self._target(record)
        if not self._field:
            value_schema = self._field_schema() if schema is not None else None
            return self._replace(record, self._convert(data), value_schema)
        if data is None:
            return record
        struct = self._struct(data, "TimestampConverter")
        if self._field in struct:
            struct[self._field] = self._convert(struct[self._field])
        fields = _fields(schema)
        new_schema: ConnectSchema | None = schema
        if schema is not None and fields is not None:
            new_schema = _with_fields(
                schema,
                [
                    {**self._field_schema(), "field": f["field"]}
                    if f["field"] == self._field
                    else f
                    for f in fields
                ],
            )
        return self._replace(record, struct, new_schema)


class ValueToKey:
    """Sets the key to a struct of some value fields (so records with one id share a partition)."""

    KEYS = (ConfigKey("fields", ConfigType.LIST, validator=lambda k, v: None if v else "empty"),)

    def __init__(self, values: Mapping[str, Any], on_key: bool) -> None:
        self._fields = list(values["fields"])

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        if record.value is None:
            return record
        if not isinstance(record.value, Mapping):
            raise ConnectorError("ValueToKey requires a struct/map value")
        missing = [f for f in self._fields if f not in record.value]
        if missing:
            raise ConnectorError(f"ValueToKey: the value has no field(s) {missing}")
        key = {f: record.value[f] for f in self._fields}
        key_schema = None
        if record.value_schema is not None and record.value_schema.get("type") == "struct":
            by_name = {f["field"]: f for f in record.value_schema.get("fields", [])}
            key_schema = {
                "type": "struct",
                "optional": False,
                "fields": [by_name[f] for f in self._fields if f in by_name],
            }
        return record.with_(key=key, key_schema=key_schema)


class ExtractField(FieldTransform):
    """Replaces the key or value struct by one of its fields."""

    KEYS = (ConfigKey("field", ConfigType.STRING, validator=lambda k, v: None if v else "empty"),)

    def __init__(self, values: Mapping[str, Any], on_key: bool) -> None:
        super().__init__(values, on_key)
        self._field = values["field"]

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        data, schema = self._target(record)
        if data is None:
            return record
        struct = self._struct(data, "ExtractField")
        field_schema = None
        for f in _fields(schema) or []:
            if f["field"] == self._field:
                field_schema = {k: v for k, v in f.items() if k != "field"}
        return self._replace(record, struct.get(self._field), field_schema)


class Filter:
    """Drops every record (on its own) or the records its predicate selects."""

    KEYS: tuple[ConfigKey, ...] = ()

    def __init__(self, values: Mapping[str, Any], on_key: bool) -> None:
        pass

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        return None


FIELD_TRANSFORMS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (InsertField, ReplaceField, MaskField, Cast, TimestampConverter, ExtractField)
}


def transform_class(name: str) -> tuple[type[Any], bool] | None:
    """(class, on_key) for a Kafka class name such as ``...transforms.Cast$Value``."""
    short = name.removeprefix(PREFIX)
    if short == "Filter":
        return Filter, False
    if short == "ValueToKey":
        return ValueToKey, True
    base, _, side = short.partition("$")
    cls = FIELD_TRANSFORMS.get(base)
    if cls is None or side not in {"Key", "Value"}:
        return None
    return cls, side == "Key"
