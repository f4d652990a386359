"""Dotted field paths into records (``"payload.amount"``), used by filter, map and select steps.

Segments are separated by ``.``; a digit segment indexes a list. Writers copy every container on
the path before changing it, so input records (which the runner may still hold) stay untouched
without a deep copy per record.
"""

from __future__ import annotations

from typing import Any

MISSING: Any = object()
"""Returned by ``get_path`` for an absent field (distinct from a JSON ``null``)."""


def split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def get_path(record: Any, segments: tuple[str, ...]) -> Any:
    current = record
    for segment in segments:
        if isinstance(current, dict):
            current = current.get(segment, MISSING)
            if current is MISSING:
                return MISSING
        elif isinstance(current, list) and segment.isdigit():
            index = int(segment)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def _copy_container(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def set_path(record: dict[str, Any], segments: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A shallow-copied record with ``value`` at the path.

    Missing or scalar parents become objects; a path through a list needs an existing index,
    otherwise the record is returned unchanged (a map step never fails a record).
    """
    root = dict(record)
    current: Any = root
    for segment in segments[:-1]:
        if isinstance(current, list):
            if not (segment.isdigit() and int(segment) < len(current)):
                return record
            index = int(segment)
            child = _copy_container(current[index])
            if not isinstance(child, dict | list):
                child = {}
            current[index] = child
        else:
            child = current.get(segment)
            child = _copy_container(child) if isinstance(child, dict | list) else {}
            current[segment] = child
        current = child
    last = segments[-1]
    if isinstance(current, list):
        if not (last.isdigit() and int(last) < len(current)):
            return record
        current[int(last)] = value
    else:
        current[last] = value
    return root


def delete_path(record: dict[str, Any], segments: tuple[str, ...]) -> dict[str, Any]:
    """A shallow-copied record without the field; the record itself if the field is absent."""
    if get_path(record, segments) is MISSING:
        return record
    root = dict(record)
    current: Any = root
    for segment in segments[:-1]:
        if isinstance(current, list):
            index = int(segment)
            current[index] = _copy_container(current[index])
            current = current[index]
        else:
            current[segment] = _copy_container(current[segment])
            current = current[segment]
    last = segments[-1]
    if isinstance(current, list):
        del current[int(last)]
    else:
        del current[last]
    return root
