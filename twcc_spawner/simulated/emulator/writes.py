"""The write pipeline: decode, field validation, admission, validation, dry run, store.

``dryRun=All`` runs everything but the store write. ``fieldValidation`` (Strict, Warn
— the default — or Ignore) governs fields the schema does not declare: Strict refuses
the request, Warn drops them and answers a ``Warning`` header each, Ignore drops them.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from typing import Any

from aiohttp import web

from . import managed, schema
from .apply import apply as server_side_apply
from .bodies import read_body
from .deletion import delete_object, terminating
from .errors import ApiError, invalid, qualified_kind
from .kinds import Kind
from .patch import json_patch, merge_patch
from .references import admit
from .resources import default_tolerations, prepare_new
from .smp import strategic_merge_patch
from .store import Obj, Store, now
from .subresources import Target, body_dict
from .updates import keep_status, only_status, update_causes
from .validation import validate

_VALIDATIONS = ("Strict", "Warn", "Ignore")
#: The warnings a request's response carries.
WARNINGS = web.RequestKey("warnings", list)


def dry_run(request: web.Request) -> bool:
    """Whether the request asks for ``dryRun=All`` (400 for another value)."""
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise ApiError(400, f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def _field_validation(request: web.Request) -> str:
    value = request.query.get("fieldValidation") or "Warn"
    if value not in _VALIDATIONS:
        raise ApiError(
            400,
            f'fieldValidation: Unsupported value: "{value}": supported values: '
            '"Ignore", "Strict", "Warn"',
        )
    return value


def warn(request: web.Request, message: str) -> None:
    """Answer a ``Warning: 299`` header with the response."""
    request.setdefault(WARNINGS, []).append(message)


def check_fields(request: web.Request, kind: Kind, obj: Obj) -> None:
    """Apply ``fieldValidation`` to the fields of ``obj`` the schema does not declare."""
    name = schema.definition_name(kind.group, kind.version, kind.kind)
    if name is None:
        return
    unknown = list(schema.unknown_fields(obj, {"$ref": f"#/$defs/{name}"}))
    if not unknown:
        return
    mode = _field_validation(request)
    if mode == "Strict":
        listed = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise ApiError(
            400,
            f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
            f"strict decoding error: {listed}",
        )
    if mode == "Warn":
        for path in unknown:
            warn(request, f'unknown field "{path}"')
    schema.prune(obj, unknown)


def _check_kind(kind: Kind, obj: Obj) -> None:
    if obj.setdefault("kind", kind.kind) != kind.kind:
        raise ApiError(400, f"expected kind {kind.kind}, got {obj['kind']}")
    obj.setdefault("apiVersion", kind.api_version)


def _check_namespace(store: Store, kind: Kind, namespace: str, obj: Obj) -> None:
    if not kind.namespaced:
        return
    store.get("namespaces", "", namespace)
    if (obj["metadata"].get("namespace") or namespace) != namespace:
        raise ApiError(400, "the namespace of the object does not match the request")
    if terminating(store, namespace):
        name = obj["metadata"].get("name", "")
        raise ApiError(
            403,
            f'{kind.plural} "{name}" is forbidden: unable to create new content in namespace '
            f"{namespace} because it is being terminated",
            details={
                "name": name,
                "kind": kind.plural,
                "causes": [
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace",
                    }
                ],
            },
        )


def create(
    store: Store, request: web.Request, kind: Kind, namespace: str, body: Any, apply: bool = False
) -> Obj:
    """Create an object from ``body`` (or only pretend, with ``dryRun``); ``apply``: by a
    server-side apply, which set the managedFields itself."""
    obj = body_dict(body, kind.kind)
    _check_kind(kind, obj)
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ApiError(400, "metadata must be an object")
    check_fields(request, kind, obj)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
    _check_namespace(store, kind, namespace, obj)
    validate(kind, obj)
    obj = prepare_new(kind, obj, namespace)
    admit(store, kind.key, obj)
    if not apply:
        managed.record(request, kind, obj, None)
    if dry_run(request):
        if store.find(kind.key, namespace, obj["metadata"]["name"]) is not None:
            raise ApiError(
                409,
                f'{kind.plural} "{obj["metadata"]["name"]}" already exists',
                reason="AlreadyExists",
            )
        obj["metadata"].setdefault("uid", str(uuid.uuid4()))
        obj["metadata"].setdefault("creationTimestamp", now())
        return obj
    return store.create(kind.key, obj)


def write(
    store: Store,
    request: web.Request,
    target: Target,
    current: Obj,
    new: Obj,
    status_only: bool,
    operation: str = "Update",
) -> Obj:
    """Replace ``current`` with ``new`` after admission and validation."""
    kind = target.kind
    _check_kind(kind, new)
    if not isinstance(new.get("metadata"), dict):
        raise ApiError(400, "metadata must be an object")
    check_fields(request, kind, new)
    new = only_status(current, new) if status_only else keep_status(kind, current, new)
    meta = new["metadata"]
    for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if field in current["metadata"]:
            meta[field] = current["metadata"][field]
    if kind.namespaced:
        meta["namespace"] = target.namespace
    else:
        meta.pop("namespace", None)
    if kind.key == "pods" and isinstance(new.get("spec"), dict):
        default_tolerations(new["spec"])
    if causes := update_causes(kind, current, new):
        raise invalid(kind, target.name, causes)
    validate(kind, new, current)
    if operation != "Apply":
        managed.record(request, kind, new, current, status_only)
    if dry_run(request):
        return new
    return store.update(kind.key, new, check_version=True)


def replace(
    store: Store, request: web.Request, target: Target, body: Any, status_only: bool
) -> Obj:
    """A PUT."""
    obj = body_dict(body, target.kind.kind)
    if (obj.get("metadata") or {}).get("name") != target.name:
        raise ApiError(400, "the name of the object does not match the request")
    current = store.get(target.kind.key, target.namespace, target.name)
    return write(store, request, target, current, obj, status_only)


async def patch(store: Store, request: web.Request, target: Target, status_only: bool) -> Obj:
    """A PATCH: JSON patch, merge patch, strategic merge patch or server-side apply."""
    body = await read_body(request)
    kind, content_type = target.kind, request.content_type
    if content_type == "application/apply-patch+yaml":
        return server_side_apply(store, request, target, body, status_only)
    current = store.get(kind.key, target.namespace, target.name)
    if content_type == "application/json-patch+json":
        patched = json_patch(current, body)
    elif content_type == "application/merge-patch+json":
        patched = merge_patch(current, body)
    elif content_type in ("application/strategic-merge-patch+json", "application/json"):
        patched = strategic_merge_patch(kind, current, body)
    else:
        raise ApiError(
            415, f"unsupported patch content type {content_type}", reason="UnsupportedMediaType"
        )
    if not isinstance(patched, dict):
        raise ApiError(
            422, f"the patch of {qualified_kind(kind.kind, kind.group)} did not give an object"
        )
    return write(store, request, target, copy.deepcopy(current), patched, status_only, "Update")


def delete(store: Store, request: web.Request, target: Target, body: Any) -> Obj:
    """A DELETE: graceful for bound pods, Terminating for namespaces, at once otherwise."""
    options = body if isinstance(body, dict) else {}
    grace = request.query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
    obj = store.get(target.kind.key, target.namespace, target.name)
    if dry_run(request) or "All" in (options.get("dryRun") or []):
        return obj
    return delete_object(store, target.kind.key, obj, grace)
