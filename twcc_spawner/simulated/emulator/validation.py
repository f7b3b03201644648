"""Schema validation of incoming objects with the OpenAPI schemas of ``kubernetes_validate``."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import referencing
from kubernetes_validate import utils as kv

from .errors import ApiError

#: Kubernetes version whose schemas are used and which ``/version`` reports.
KUBERNETES_VERSION = "1.31"


@functools.cache
def _schema_version() -> str:
    return [v for v in kv.all_versions() if kv.major_minor(v) <= KUBERNETES_VERSION][-1]


@functools.cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    folder = f"kubernetes-json-schema/v{_schema_version()}-local"
    schema = kv.schema_contents(f"{folder}/{kind.lower()}-v1.json", KUBERNETES_VERSION)
    definitions = kv.schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSION)
    registry: referencing.Registry = referencing.Registry().with_resource(
        "_definitions.json", referencing.Resource.from_contents(definitions)
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _field(error: jsonschema.ValidationError) -> str:
    field = ""
    for part in error.absolute_path:
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    return field


def validate(kind: str, obj: dict[str, Any]) -> None:
    """Raise a 422 ``Invalid`` error listing every schema violation of ``obj``."""
    name = obj.get("metadata", {}).get("name") or ""
    causes = [
        {"reason": "FieldValueInvalid", "message": error.message, "field": _field(error)}
        for error in _validator(kind).iter_errors(obj)
    ]
    if not name:
        causes.append(
            {"reason": "FieldValueRequired", "message": "Required value", "field": "metadata.name"}
        )
    if causes:
        summary = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
        raise ApiError(
            422,
            f'{kind} "{name}" is invalid: [{summary}]',
            details={"name": name, "kind": kind, "causes": causes},
        )
