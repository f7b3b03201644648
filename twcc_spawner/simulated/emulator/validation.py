"""Validation of incoming objects: Kubernetes' schemas, then the rules of :mod:`.semantics`."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

from . import schema, semantics
from .errors import invalid
from .kinds import Kind
from .schema import KUBERNETES_VERSION

__all__ = ["KUBERNETES_VERSION", "validate"]


@functools.cache
def _validator(group: str, version: str, kind: str) -> jsonschema.protocols.Validator | None:
    name = schema.definition_name(group, version, kind)
    if name is None:
        return None
    document = {"$defs": schema.definitions()}
    resource = referencing.jsonschema.DRAFT202012.create_resource(document)
    registry: referencing.Registry = referencing.Registry().with_resource(
        "_definitions.json", resource
    )
    return jsonschema.Draft202012Validator(
        {"$ref": f"_definitions.json#/$defs/{name}"}, registry=registry
    )


def _field(error: jsonschema.ValidationError) -> str:
    field = ""
    for part in error.absolute_path:
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    return field


def validate(kind: Kind, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Raise a 422 ``Invalid`` error listing every violation of ``obj`` (``old``: an update)."""
    validator = _validator(kind.group, kind.version, kind.kind)
    causes = [
        {"reason": "FieldValueInvalid", "message": error.message, "field": _field(error)}
        for error in (validator.iter_errors(obj) if validator else ())
    ]
    causes += semantics.check(kind, obj, old)
    if causes:
        raise invalid(kind, obj.get("metadata", {}).get("name") or "", causes)
