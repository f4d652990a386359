"""Structured diffs between pipeline configs: an RFC 6902 JSON Patch plus a readable change list.

Objects are compared key by key; arrays are aligned on a longest common subsequence of equal
elements (so inserting a step is one ``add``, not a cascade of replaces), and the unmatched
stretches between anchors are diffed index-wise. ``apply_patch`` is a complete RFC 6902 applier.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from typing import Any

from tables.pipelines.jsonpointer import escape_token, parse_pointer
from tables.pipelines.jsonvalues import json_equal

MAX_LCS_CELLS = 250_000
"""Above this many cells (len(a) * len(b)) arrays are diffed index-wise: bounded time."""


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class Change:
    """One readable change; ``path`` is a JSON pointer into the document as the patch goes."""

    path: str
    kind: ChangeKind
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"path": self.path, "kind": self.kind.value}
        if self.kind is not ChangeKind.ADDED:
            answer["old"] = self.old
        if self.kind is not ChangeKind.REMOVED:
            answer["new"] = self.new
        return answer


@dataclass
class ConfigDiff:
    patch: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"patch": self.patch, "changes": [c.to_json() for c in self.changes]}


def diff_configs(old: Any, new: Any) -> ConfigDiff:
    result = ConfigDiff()
    _diff(old, new, "", result)
    return result


def _add(result: ConfigDiff, path: str, value: Any) -> None:
    result.patch.append({"op": "add", "path": path, "value": copy.deepcopy(value)})
    result.changes.append(Change(path, ChangeKind.ADDED, new=value))


def _remove(result: ConfigDiff, path: str, old: Any) -> None:
    result.patch.append({"op": "remove", "path": path})
    result.changes.append(Change(path, ChangeKind.REMOVED, old=old))


def _diff(old: Any, new: Any, path: str, result: ConfigDiff) -> None:
    if json_equal(old, new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                _remove(result, f"{path}/{escape_token(key)}", old[key])
        for key, value in new.items():
            child = f"{path}/{escape_token(key)}"
            if key in old:
                _diff(old[key], value, child, result)
            else:
                _add(result, child, value)
        return
    if isinstance(old, list) and isinstance(new, list):
        _diff_lists(old, new, path, result)
        return
    result.patch.append({"op": "replace", "path": path, "value": copy.deepcopy(new)})
    result.changes.append(Change(path, ChangeKind.CHANGED, old=old, new=new))


def _common_subsequence(old: list[Any], new: list[Any]) -> list[tuple[int, int]]:
    """Index pairs of equal elements in a longest common subsequence (classic DP)."""
    if len(old) * len(new) > MAX_LCS_CELLS:
        return []
    rows, cols = len(old), len(new)
    table = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            if json_equal(old[i], new[j]):
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < rows and j < cols:
        if json_equal(old[i], new[j]):
            pairs.append((i, j))
            i += 1
            j += 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _diff_lists(old: list[Any], new: list[Any], path: str, result: ConfigDiff) -> None:
    anchors = [*_common_subsequence(old, new), (len(old), len(new))]
    position = 0  # index in the array as already patched
    old_start = new_start = 0
    for old_anchor, new_anchor in anchors:
        removed = old[old_start:old_anchor]
        added = new[new_start:new_anchor]
        paired = min(len(removed), len(added))
        for offset in range(paired):
            _diff(removed[offset], added[offset], f"{path}/{position + offset}", result)
        for offset in range(paired, len(removed)):
            _remove(result, f"{path}/{position + paired}", removed[offset])
        for offset in range(paired, len(added)):
            _add(result, f"{path}/{position + offset}", added[offset])
        position += len(added) + 1
        old_start, new_start = old_anchor + 1, new_anchor + 1


class PatchError(ValueError):
    """The patch does not apply (bad pointer, failed test, unknown op)."""


def _parent(document: Any, tokens: list[str]) -> Any:
    target = document
    for token in tokens[:-1]:
        target = _child(target, token)
    return target


def _child(container: Any, token: str) -> Any:
    if isinstance(container, dict):
        if token not in container:
            raise PatchError(f"no member {token!r}")
        return container[token]
    if isinstance(container, list):
        return container[_index(container, token, allow_end=False)]
    raise PatchError(f"cannot descend into a {type(container).__name__}")


def _index(array: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(array)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"bad array index {token!r}")
    index = int(token)
    if index > len(array) or (index == len(array) and not allow_end):
        raise PatchError(f"array index {index} out of range")
    return index


def _get(document: Any, pointer: str) -> Any:
    target = document
    for token in parse_pointer(pointer):
        target = _child(target, token)
    return target


def _add_at(document: Any, pointer: str, value: Any) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return value
    parent = _parent(document, tokens)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], allow_end=True), value)
    else:
        raise PatchError(f"cannot add into a {type(parent).__name__}")
    return document


def _remove_at(document: Any, pointer: str) -> tuple[Any, Any]:
    tokens = parse_pointer(pointer)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(document, tokens)
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise PatchError(f"no member {tokens[-1]!r} to remove")
        return document, parent.pop(tokens[-1])
    if isinstance(parent, list):
        return document, parent.pop(_index(parent, tokens[-1], allow_end=False))
    raise PatchError(f"cannot remove from a {type(parent).__name__}")


def apply_patch(document: Any, patch: list[dict[str, Any]]) -> Any:
    """A patched deep copy; the input is left unchanged."""
    result = copy.deepcopy(document)
    for operation in patch:
        op, path = operation.get("op"), operation.get("path")
        if not isinstance(path, str):
            raise PatchError("operation without a string 'path'")
        if op == "add":
            result = _add_at(result, path, copy.deepcopy(operation["value"]))
        elif op == "remove":
            result, _ = _remove_at(result, path)
        elif op == "replace":
            _get(result, path)
            if path == "":
                result = copy.deepcopy(operation["value"])
            else:
                result, _ = _remove_at(result, path)
                result = _add_at(result, path, copy.deepcopy(operation["value"]))
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise PatchError(f"{op} without a string 'from'")
            if op == "move":
                if path.startswith(source + "/"):
                    raise PatchError("cannot move a value into one of its children")
                result, value = _remove_at(result, source)
            else:
                value = copy.deepcopy(_get(result, source))
            result = _add_at(result, path, value)
        elif op == "test":
            if not json_equal(_get(result, path), operation.get("value")):
                raise PatchError(f"test failed at {path!r}")
        else:
            raise PatchError(f"unknown op {op!r}")
    return result
