"""Discovery documents (``/api``, ``/apis``, resource lists) built from the registry of kinds."""

from __future__ import annotations

from typing import Any

from .kinds import Kind, group_versions, kinds_in


def api_versions(host: str) -> dict[str, Any]:
    """The ``/api`` document."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def api_groups() -> dict[str, Any]:
    """The ``/apis`` document."""
    versions: dict[str, list[str]] = {}
    for group, version in group_versions():
        versions.setdefault(group, []).append(version)
    groups = [_group(g, v) for g, v in versions.items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    """The ``/apis/<group>`` document, or None for an unknown group."""
    versions = [v for g, v in group_versions() if g == group]
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _entries(kind: Kind) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": kind.plural,
        "singularName": kind.kind.lower(),
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": list(kind.verbs),
    }
    if kind.short_names:
        main["shortNames"] = list(kind.short_names)
    if kind.categories:
        main["categories"] = list(kind.categories)
    entries = [main]
    for sub in kind.subresources:
        entries.append(
            {
                "name": f"{kind.plural}/{sub}",
                "singularName": "",
                "namespaced": kind.namespaced,
                "kind": _SUBRESOURCE_KINDS.get(sub, kind.kind),
                "verbs": list(_SUBRESOURCE_VERBS.get(sub, ("get", "patch", "update"))),
            }
        )
    return entries


_SUBRESOURCE_KINDS = {
    "binding": "Binding",
    "eviction": "Eviction",
    "token": "TokenRequest",
    "log": "Pod",
    "exec": "PodExecOptions",
    "attach": "PodAttachOptions",
    "portforward": "PodPortForwardOptions",
}
_SUBRESOURCE_VERBS = {
    "binding": ("create",),
    "eviction": ("create",),
    "token": ("create",),
    "log": ("get",),
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The ``APIResourceList`` of one group version, or None if it is not served."""
    kinds = kinds_in(group, version)
    if not kinds:
        return None
    resources = [entry for kind in kinds for entry in _entries(kind)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": kinds[0].api_version,
        "resources": resources,
    }
