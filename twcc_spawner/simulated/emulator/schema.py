"""Kubernetes' own schemas, from the JSON schemas ``kubernetes_validate`` bundles.

Those are kube-apiserver's OpenAPI definitions (with their ``x-kubernetes-*``
extensions: group-version-kind, patch merge keys and strategies) in JSON-schema form.
They serve schema validation, ``fieldValidation``, strategic merge patch and the
OpenAPI documents, so no schema is written by hand here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from kubernetes_validate import utils as kv

#: Kubernetes version whose schemas are used and which ``/version`` reports.
KUBERNETES_VERSION = "1.31"

Schema = dict[str, Any]
_REF = "#/$defs/"


@functools.cache
def schema_version() -> str:
    """The bundled schema release used (the newest not after :data:`KUBERNETES_VERSION`)."""
    return [v for v in kv.all_versions() if kv.major_minor(v) <= KUBERNETES_VERSION][-1]


def folder() -> str:
    """The bundled folder of the schemas used."""
    return f"kubernetes-json-schema/v{schema_version()}-local"


@functools.cache
def definitions() -> dict[str, Schema]:
    """Every definition, by its OpenAPI name (e.g. ``io.k8s.api.core.v1.Pod``)."""
    raw = kv.schema_contents(f"{folder()}/_definitions.json", KUBERNETES_VERSION)
    document = raw if isinstance(raw, dict) else json.loads(raw)
    return document["$defs"]


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    found: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            found.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return found


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition of a kind, or None if the schemas do not know it."""
    return _by_gvk().get((group, version, kind))


def resolve(schema: Schema | None) -> Schema:
    """``schema`` with its ``$ref`` followed (an empty schema for None)."""
    while schema and "$ref" in schema:
        schema = definitions()[schema["$ref"].removeprefix(_REF)]
    return schema or {}


def _is_open(schema: Schema) -> bool:
    """A schema that accepts any fields (maps, free-form objects, int-or-string…)."""
    return "properties" not in schema or "additionalProperties" in schema


def unknown_fields(obj: Any, schema: Schema, path: str = "") -> Iterator[str]:
    """The paths (``spec.containers[0].foo``) of fields the schema does not declare."""
    schema = resolve(schema)
    if isinstance(obj, dict):
        if _is_open(schema):
            values = (
                resolve(schema.get("additionalProperties"))
                if isinstance(schema.get("additionalProperties"), dict)
                else {}
            )
            if values:
                for key, value in obj.items():
                    yield from unknown_fields(value, values, f"{path}.{key}" if path else key)
            return
        properties = schema["properties"]
        for key, value in obj.items():
            where = f"{path}.{key}" if path else key
            if key not in properties:
                yield where
            else:
                yield from unknown_fields(value, properties[key], where)
    elif isinstance(obj, list) and "items" in schema:
        for index, item in enumerate(obj):
            yield from unknown_fields(item, schema["items"], f"{path}[{index}]")


def prune(obj: Any, paths: list[str]) -> None:
    """Drop the fields at ``paths`` (as found by :func:`unknown_fields`) from ``obj``."""
    for path in paths:
        node, parts = obj, _split(path)
        for part in parts[:-1]:
            node = node[part]
        node.pop(parts[-1], None)


def _split(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for dotted in path.split("."):
        name, *indexes = dotted.split("[")
        parts.append(name)
        parts.extend(int(i.rstrip("]")) for i in indexes)
    return parts
