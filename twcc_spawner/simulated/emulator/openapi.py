"""OpenAPI v2 and v3 documents generated from Kubernetes' schemas (:mod:`.schema`).

The bundled JSON schemas are converted back to OpenAPI: ``$ref`` targets move to
``#/definitions`` (v2) or ``#/components/schemas`` (v3), nullable type lists become
single types, and the ``enum`` JSON-schema generators add on ``apiVersion``/``kind``
is dropped. kubectl uses v3 for client-side validation and ``explain``. Every group
version's v3 document carries all definitions (a real server's carries only those its
kinds use). v2 is served as JSON only: kubectl asks for it in protobuf, which the
emulator does not encode, and is answered 406 (it then uses v3).
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from . import schema
from .kinds import KINDS, Kind, kinds_in

_JSON_REF = "#/$defs/"


def _convert(node: Any, ref_prefix: str) -> Any:
    if isinstance(node, list):
        return [_convert(item, ref_prefix) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = ref_prefix + value.removeprefix(_JSON_REF)
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0] if len(types) == 1 else types
        elif key == "properties" and isinstance(value, dict):
            out[key] = {
                name: _convert(
                    _without_enum(prop) if name in ("apiVersion", "kind") else prop, ref_prefix
                )
                for name, prop in value.items()
            }
        else:
            out[key] = _convert(value, ref_prefix)
    return out


def _without_enum(prop: Any) -> Any:
    return {k: v for k, v in prop.items() if k != "enum"} if isinstance(prop, dict) else prop


def _info() -> dict[str, str]:
    return {
        "title": "Kubernetes (SIMULATED: twcc-spawner emulator)",
        "version": f"v{schema.schema_version()}",
    }


@functools.cache
def v2_bytes() -> bytes:
    """The ``/openapi/v2`` (Swagger 2.0) document."""
    definitions = _convert(schema.definitions(), "#/definitions/")
    document = {"swagger": "2.0", "info": _info(), "paths": {}, "definitions": definitions}
    return json.dumps(document).encode()


@functools.cache
def _v3_schemas() -> dict[str, Any]:
    return _convert(schema.definitions(), "#/components/schemas/")


def _group_version_paths() -> list[str]:
    paths: dict[str, None] = {}
    for kind in KINDS:
        paths.setdefault(f"apis/{kind.group}/{kind.version}" if kind.group else "api/v1")
    return list(paths)


_WRITE_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _operation(kind: Kind, action: str, name: str, writes: bool) -> dict[str, Any]:
    """One operation, tagged with its kind as kube-openapi tags them (kubectl looks for
    the kind's ``fieldValidation`` parameter there)."""
    definition = schema.definition_name(kind.group, kind.version, kind.kind) or ""
    parameters = [
        {"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for p in (_WRITE_PARAMETERS if writes else ())
    ]
    reference = {"$ref": f"#/components/schemas/{definition}"}
    operation: dict[str, Any] = {}
    if action == "patch":
        patch = {
            "schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
        }
        operation["requestBody"] = {"content": dict.fromkeys(_PATCH_TYPES, patch)}
    elif writes:
        operation["requestBody"] = {"content": {"*/*": {"schema": reference}}}
    return operation | {
        "operationId": f"{action}{kind.kind}",
        "parameters": parameters,
        "responses": {"200": {"content": {"application/json": {"schema": reference}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": kind.group,
            "version": kind.version,
            "kind": kind.kind,
        },
        "x-kubernetes-name": name,
    }


def _paths(kinds: list[Kind]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for kind in kinds:
        prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else "/api/v1"
        scope = "/namespaces/{namespace}" if kind.namespaced else ""
        collection = f"{prefix}{scope}/{kind.plural}"
        paths[collection] = {"post": _operation(kind, "post", kind.plural, True)}
        if "get" in kind.verbs:
            paths[collection]["get"] = _operation(kind, "list", kind.plural, False)
            paths[collection + "/{name}"] = {
                "get": _operation(kind, "get", kind.plural, False),
                "put": _operation(kind, "put", kind.plural, True),
                "patch": _operation(kind, "patch", kind.plural, True),
                "delete": _operation(kind, "delete", kind.plural, False),
            }
    return paths


@functools.cache
def _v3_documents() -> dict[str, bytes]:
    documents = {}
    for path in _group_version_paths():
        group, version = ("", "v1") if path == "api/v1" else tuple(path.split("/")[1:])
        document = {
            "openapi": "3.0.0",
            "info": _info(),
            "paths": _paths(kinds_in(group, version)),
            "components": {"schemas": _v3_schemas()},
        }
        documents[path] = json.dumps(document).encode()
    return documents


def v3_index() -> dict[str, Any]:
    """The ``/openapi/v3`` discovery document: one URL per group version, with its hash."""
    paths = {}
    for path, body in _v3_documents().items():
        digest = hashlib.sha512(body).hexdigest()[:128].upper()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def v3_bytes(path: str) -> bytes | None:
    """The v3 document of ``api/v1`` or ``apis/<group>/<version>`` (None if not served)."""
    return _v3_documents().get(path.strip("/"))
