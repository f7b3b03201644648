"""Strategic merge patch, with the merge keys and strategies of Kubernetes' schemas.

Lists whose field declares ``x-kubernetes-patch-strategy: merge`` are merged: by their
``x-kubernetes-patch-merge-key`` (containers by ``name``, ports by ``containerPort``…)
or, for lists of scalars, as a union. Other lists are replaced. The directives
``$patch`` (replace, delete, merge), ``$setElementOrder/<field>``,
``$deleteFromPrimitiveList/<field>`` and ``$retainKeys`` are applied and never stored.
"""

from __future__ import annotations

import copy
from typing import Any

from . import schema
from .errors import ApiError
from .kinds import Kind

_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"
_DELETE = object()


def strategic_merge_patch(kind: Kind, current: Any, patch: Any) -> Any:
    """Apply ``patch`` to a copy of ``current``, an object of ``kind``."""
    name = schema.definition_name(kind.group, kind.version, kind.kind)
    root = {"$ref": f"#/$defs/{name}"} if name else {}
    result = _merge(copy.deepcopy(current), patch, root)
    if result is _DELETE:
        raise ApiError(422, "a strategic merge patch may not delete the whole object")
    return result


def _field_schema(parent: schema.Schema, key: str) -> schema.Schema:
    parent = schema.resolve(parent)
    properties = parent.get("properties") or {}
    if key in properties:
        return properties[key]
    extra = parent.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def _merge(original: Any, patch: Any, node: schema.Schema) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    patch = dict(patch)
    directive = patch.pop("$patch", None)
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _clean(patch)
    retain = patch.pop("$retainKeys", None)
    result = dict(original) if isinstance(original, dict) else {}
    orders = {k[len(_ORDER) :]: patch.pop(k) for k in list(patch) if k.startswith(_ORDER)}
    deletions = {
        k[len(_DELETE_FROM) :]: patch.pop(k) for k in list(patch) if k.startswith(_DELETE_FROM)
    }
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
            continue
        field = _field_schema(node, key)
        merged = _merge_field(result.get(key), value, field)
        if merged is _DELETE:
            result.pop(key, None)
        else:
            result[key] = merged
    for key, values in deletions.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _ordered(result[key], order, _field_schema(node, key))
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_field(original: Any, value: Any, field: schema.Schema) -> Any:
    if not isinstance(value, list):
        return _merge(original, value, field)
    strategy = str(field.get("x-kubernetes-patch-strategy", ""))
    if "merge" not in strategy.split(","):
        return _clean(value)
    items = schema.resolve(field).get("items") or {}
    key = field.get("x-kubernetes-patch-merge-key")
    existing = list(original) if isinstance(original, list) else []
    if key is None:
        return existing + [v for v in value if v not in existing]
    return _merge_by_key(existing, value, key, items)


def _merge_by_key(
    existing: list[Any], patch: list[Any], key: str, items: schema.Schema
) -> list[Any]:
    result = list(existing)
    for item in patch:
        if not isinstance(item, dict):
            result.append(item)
            continue
        index = next(
            (
                i
                for i, e in enumerate(result)
                if isinstance(e, dict) and e.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_clean(item))
        else:
            result[index] = _merge(result[index], item, items)
    return result


def _ordered(values: list[Any], order: list[Any], field: schema.Schema) -> list[Any]:
    key = field.get("x-kubernetes-patch-merge-key")

    def identity(value: Any) -> Any:
        return value.get(key) if key and isinstance(value, dict) else value

    wanted = [identity(o) for o in order]
    listed = [v for w in wanted for v in values if identity(v) == w]
    return listed + [v for v in values if identity(v) not in wanted]


def _clean(value: Any) -> Any:
    """``value`` without patch directives."""
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("$")}
    return value
