"""What an update may change: the pod spec's few mutable fields, and the status only via /status."""

from __future__ import annotations

import copy
from typing import Any

from .kinds import Kind
from .semantics import Cause, forbidden

_POD_UPDATE_RULE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _without_mutable(spec: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                container.pop("image", None)
    spec.pop("activeDeadlineSeconds", None)
    old_tolerations = old.get("tolerations") or []
    tolerations = spec.get("tolerations") or []
    if all(t in tolerations for t in old_tolerations):
        spec["tolerations"] = "unchanged"
    if (old.get("terminationGracePeriodSeconds") or 0) < 0:
        spec.pop("terminationGracePeriodSeconds", None)
    spec.pop("schedulingGates", None)
    return spec


def _pod_spec_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    before = _without_mutable(old_spec, old_spec)
    after = _without_mutable(new_spec, old_spec)
    if (old_spec.get("terminationGracePeriodSeconds") or 0) < 0:
        before.pop("terminationGracePeriodSeconds", None)
    if before != after:
        return [forbidden("spec", _POD_UPDATE_RULE)]
    return []


def update_causes(kind: Kind, old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """Why ``new`` may not replace ``old`` (an empty list if it may)."""
    if kind.kind == "Pod":
        return _pod_spec_changes(old, new)
    return []


def keep_status(kind: Kind, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` with ``old``'s status, for writes to a kind's main resource (it has /status)."""
    if "status" in kind.subresources:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    return new


def only_status(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` with ``new``'s status: a write through ``/status``."""
    result = copy.deepcopy(old)
    result["status"] = copy.deepcopy(new.get("status") or {})
    result["metadata"]["resourceVersion"] = (new.get("metadata") or {}).get(
        "resourceVersion", old["metadata"].get("resourceVersion")
    )
    return result
