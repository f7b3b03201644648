"""Field sets in managedFields' ``FieldsV1`` form, derived with Kubernetes' list keys.

A path is a tuple of FieldsV1 keys: ``f:<field>``, ``k:<json of the item's keys>`` for
items of keyed lists (containers by name…), ``v:<json>`` for items of scalar lists that
merge as sets; atomic lists are leaves. :func:`leaves` lists an object's paths;
:func:`to_v1` and :func:`from_v1` convert sets of them to and from ``fieldsV1``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from . import schema

Path = tuple[str, ...]
_SYSTEM_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "generateName",
    }
)


def _field(node: schema.Schema, key: str) -> schema.Schema:
    node = schema.resolve(node)
    if key in (node.get("properties") or {}):
        return node["properties"][key]
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def _list_keys(field: schema.Schema) -> list[str] | None:
    keys = field.get("x-kubernetes-list-map-keys")
    if keys:
        return list(keys)
    merge = field.get("x-kubernetes-patch-merge-key")
    return [merge] if merge else None


def _is_set(field: schema.Schema) -> bool:
    return field.get("x-kubernetes-list-type") == "set" or (
        "merge" in str(field.get("x-kubernetes-patch-strategy", "")) and not _list_keys(field)
    )


def _item_key(item: dict[str, Any], keys: list[str]) -> str:
    return "k:" + json.dumps({k: item.get(k) for k in keys if k in item}, separators=(",", ":"))


def _walk(value: Any, node: schema.Schema, path: Path) -> Iterator[Path]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _member(child, _field(node, key), (*path, f"f:{key}"))
    else:
        yield path


def _member(value: Any, field: schema.Schema, path: Path) -> Iterator[Path]:
    if isinstance(value, list):
        keys = _list_keys(field)
        items = schema.resolve(field).get("items") or {}
        if keys and all(isinstance(i, dict) for i in value):
            for item in value:
                item_path = (*path, _item_key(item, keys))
                yield (*item_path, ".")
                yield from _walk(item, items, item_path)
            return
        if _is_set(field):
            for item in value:
                yield (*path, "v:" + json.dumps(item, separators=(",", ":")))
            return
        yield path
        return
    yield from _walk(value, field, path)


def leaves(obj: dict[str, Any], root: schema.Schema, status: bool) -> set[Path]:
    """The field paths ``obj`` sets (only its status with ``status``, else not its status)."""
    found: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or (key == "status") != status:
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _SYSTEM_METADATA}
            if not value:
                continue
        found |= set(_member(value, _field(root, key), (f"f:{key}",)))
    return found


def to_v1(paths: set[Path]) -> dict[str, Any]:
    """A path set as a ``fieldsV1`` tree."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for part in path:
            node = node.setdefault(part, {})
    return tree


def from_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """The leaf paths of a ``fieldsV1`` tree."""
    paths: set[Path] = set()
    for key, child in tree.items():
        if child:
            paths |= from_v1(child, (*prefix, key))
        else:
            paths.add((*prefix, key))
    return paths


def value_at(obj: Any, path: Path) -> Any:
    """The value at ``path`` (None where there is none); ``.`` stands for the item itself."""
    node = obj
    for part in path:
        if part == ".":
            return node
        kind, _, rest = part.partition(":")
        if kind == "f":
            node = node.get(rest) if isinstance(node, dict) else None
        elif kind == "k":
            wanted = json.loads(rest)
            node = (
                next(
                    (
                        i
                        for i in node or []
                        if isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items())
                    ),
                    None,
                )
                if isinstance(node, list)
                else None
            )
        else:
            value = json.loads(rest)
            return value if isinstance(node, list) and value in node else None
        if node is None:
            return None
    return node


def remove(obj: Any, path: Path) -> None:
    """Delete the field or list item at ``path`` from ``obj``, if it is there."""
    if path and path[-1] == ".":
        path = path[:-1]
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    kind, _, rest = last.partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif isinstance(parent, list):
        target = value_at(obj, path) if kind == "k" else json.loads(rest)
        if target in parent:
            parent.remove(target)


def describe(path: Path) -> str:
    """A path as conflict messages print it: ``.spec.containers[name="nb"].image``."""
    text = ""
    for part in path:
        kind, _, rest = part.partition(":")
        if kind == "f":
            text += f".{rest}"
        elif kind == "k":
            text += (
                "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(rest).items()) + "]"
            )
        elif kind == "v":
            text += f"[={rest}]"
    return text
