"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a merge patch; strategic merge patches are treated the same way."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as exc:
            raise ApiError(422, f"path not found: /{'/'.join(parts)}") from exc
    return node, parts[-1]


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    node, last = _parent(doc, parts)
    try:
        return node[int(last)] if isinstance(node, list) else node[last]
    except (KeyError, IndexError, ValueError) as exc:
        raise ApiError(422, f"path not found: {path}") from exc


def _remove(doc: Any, path: str) -> Any:
    node, last = _parent(doc, _pointer(path))
    try:
        return node.pop(int(last)) if isinstance(node, list) else node.pop(last)
    except (KeyError, IndexError, ValueError) as exc:
        raise ApiError(422, f"path not found: {path}") from exc


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    if replace:
        _remove(doc, path)
    node, last = _parent(doc, parts)
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        node.insert(index, value)
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ApiError(422, f"cannot add at {path}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """Apply a list of JSON patch operations to a copy of ``target``."""
    if not isinstance(operations, list):
        raise ApiError(400, "json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        kind, path = op.get("op"), op.get("path", "")
        if kind in ("add", "replace"):
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=kind == "replace")
        elif kind == "remove":
            _remove(doc, path)
        elif kind in ("move", "copy"):
            value = _get(doc, op["from"])
            if kind == "move":
                _remove(doc, op["from"])
            doc = _add(doc, path, copy.deepcopy(value))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise ApiError(422, f"test operation failed at {path}")
        else:
            raise ApiError(400, f"unknown json patch operation {kind!r}")
    return doc
