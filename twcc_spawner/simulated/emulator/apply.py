"""Server-side apply (``application/apply-patch+yaml``) with managedFields and conflicts.

The applied configuration is merged into the live object with the strategic-merge
rules (keyed lists by their keys, atomic lists replaced); fields the manager applied
before and leaves out now are removed unless another manager owns them. A field
another manager owns with a different value is a conflict (409) unless ``force=true``,
which takes it over. Deviations: the merge follows patch merge keys rather than the
structured-merge-diff schema (they agree for the built-in kinds the spawner uses).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import fieldset, managed
from .errors import ApiError
from .smp import strategic_merge_patch
from .store import Obj, Store
from .subresources import Target, body_dict

if TYPE_CHECKING:
    from .fieldset import Path

_TRUE = {"true", "1", "True"}


def _conflict(conflicts: dict[str, list[Path]], kind_version: str) -> ApiError:
    count = sum(len(paths) for paths in conflicts.values())
    lines, causes = [], []
    for manager, paths in conflicts.items():
        for path in sorted(paths):
            causes.append(
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{manager}" using {kind_version}',
                    "field": fieldset.describe(path),
                }
            )
            lines.append((manager, fieldset.describe(path)))
    plural = "s" if count > 1 else ""
    if count == 1:
        manager, field = lines[0]
        message = (
            f'Apply failed with 1 conflict: conflict with "{manager}" using {kind_version}: {field}'
        )
    else:
        message = f"Apply failed with {count} conflict{plural}: " + "\n".join(
            f'conflict with "{m}" using {kind_version}: {f}' for m, f in lines
        )
    return ApiError(409, message, reason="Conflict", details={"causes": causes})


def apply(store: Store, request: web.Request, target: Target, body: Any, status_only: bool) -> Obj:
    """Apply ``body`` as ``request``'s field manager; create the object if it is missing."""
    from . import writes

    kind = target.kind
    applied = body_dict(body, kind.kind)
    if (applied.get("metadata") or {}).get("name") not in (None, target.name):
        raise ApiError(400, "the name of the object does not match the request")
    manager = request.query.get("fieldManager")
    if not manager:
        raise ApiError(
            422,
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
            "is required for apply patch",
        )
    root = managed.root_schema(kind)
    paths = fieldset.leaves(applied, root, status_only)
    current = store.find(kind.key, target.namespace, target.name)
    live = current or {"metadata": {"name": target.name}}
    merged = strategic_merge_patch(kind, copy.deepcopy(live), applied)
    subresource = "status" if status_only else ""
    conflicts: dict[str, list[Path]] = {}
    others: set[Path] = set()
    previous: set[Path] = set()
    for entry in managed.entries(live):
        fields = managed.owned(entry)
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            previous = fields
            continue
        others |= fields
        clashing = [
            p
            for p in fields & paths
            if p[-1] != "." and fieldset.value_at(live, p) != fieldset.value_at(merged, p)
        ]
        if clashing:
            conflicts.setdefault(entry.get("manager", ""), []).extend(clashing)
    force = request.query.get("force") in _TRUE
    if conflicts and not force:
        raise _conflict(conflicts, kind.version)
    for path in sorted(previous - paths - others, key=len, reverse=True):
        fieldset.remove(merged, path)
    taken = {p for paths_ in conflicts.values() for p in paths_}
    merged.setdefault("metadata", {})
    managed.set_entries(merged, kind, manager, "Apply", paths, taken, subresource)
    if current is None:
        return writes.create(store, request, kind, target.namespace, merged, apply=True)
    return writes.write(store, request, target, current, merged, status_only, "Apply")
