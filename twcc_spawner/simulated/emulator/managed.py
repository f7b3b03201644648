"""managedFields: which field manager owns which fields, as server-side apply tracks them.

Every write records its manager (``fieldManager``, else the User-Agent's product): an
Update takes the fields it changed away from the other managers; an Apply (see
:mod:`.apply`) owns exactly the fields it applied.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import fieldset, schema
from .fieldset import Path
from .kinds import Kind
from .store import Obj, now


def manager_of(request: web.Request) -> str:
    """The field manager of a request."""
    given = request.query.get("fieldManager")
    if given:
        return given
    agent = request.headers.get("User-Agent", "unknown")
    return agent.split("/", 1)[0] or "unknown"


def root_schema(kind: Kind) -> schema.Schema:
    """The schema of a kind's objects (empty if unknown)."""
    name = schema.definition_name(kind.group, kind.version, kind.kind)
    return {"$ref": f"#/$defs/{name}"} if name else {}


def entries(obj: Obj) -> list[dict[str, Any]]:
    """The managedFields entries of an object."""
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def owned(entry: dict[str, Any]) -> set[Path]:
    """The field paths one entry owns."""
    return fieldset.from_v1(entry.get("fieldsV1") or {})


def set_entries(
    obj: Obj,
    kind: Kind,
    manager: str,
    operation: str,
    paths: set[Path],
    taken: set[Path],
    subresource: str,
) -> None:
    """Give ``manager`` (``operation``) ``paths`` and remove ``taken`` from everyone else's."""
    result = []
    mine: set[Path] = set(paths)
    for entry in entries(obj):
        same = (entry.get("manager"), entry.get("operation"), entry.get("subresource", "")) == (
            manager,
            operation,
            subresource,
        )
        fields = owned(entry)
        if same:
            if operation == "Update":
                mine |= fields
            continue
        fields -= taken | paths
        if fields:
            result.append({**entry, "fieldsV1": fieldset.to_v1(fields)})
    if mine:
        entry = {
            "manager": manager,
            "operation": operation,
            "apiVersion": kind.api_version,
            "time": now(),
            "fieldsType": "FieldsV1",
            "fieldsV1": fieldset.to_v1(mine),
        }
        if subresource:
            entry["subresource"] = subresource
        result.append(entry)
    obj["metadata"]["managedFields"] = result


def record(
    request: web.Request, kind: Kind, new: Obj, old: Obj | None, status_only: bool = False
) -> None:
    """Record an Update: the fields ``new`` sets that ``old`` did not set to the same value."""
    root = root_schema(kind)
    if old is not None:
        new["metadata"]["managedFields"] = entries(old)
    paths = fieldset.leaves(new, root, status_only)
    if old is not None:
        paths = {p for p in paths if fieldset.value_at(new, p) != fieldset.value_at(old, p)}
    subresource = "status" if status_only else ""
    set_entries(new, kind, manager_of(request), "Update", paths, paths, subresource)
