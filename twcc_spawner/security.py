"""Pod security: user pods get no more privilege than a notebook needs.

TWCCSpawner's defaults drop every capability, forbid privilege escalation and
use the runtime's default seccomp profile; KubeSpawner already keeps the
service-account token out of user pods. :func:`pod_security_problems` checks
the finished pod, so an operator setting that reopens a hole (a hostPath
volume, host networking, a privileged container) stops the spawn with a clear
message instead of slipping through.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

CONTAINER_SECURITY_CONTEXT: Mapping[str, Any] = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
}
POD_SECURITY_CONTEXT: Mapping[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}


_ATTRIBUTES: dict[tuple[type, str], str] = {}


def _get(obj: Any, key: str) -> Any:
    """Field ``key`` (as the API names it) of a manifest dict or a kubernetes model."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    kind = type(obj)
    attribute = _ATTRIBUTES.get((kind, key))
    if attribute is None:
        names = getattr(kind, "attribute_map", {})
        attribute = _ATTRIBUTES[kind, key] = next((a for a, k in names.items() if k == key), "")
    return getattr(obj, attribute, None) if attribute else None


def _container_problems(container: Any) -> Iterator[str]:
    name = _get(container, "name")
    context = _get(container, "securityContext")
    if _get(context, "privileged"):
        yield f"container {name!r} is privileged"
    if _get(context, "allowPrivilegeEscalation") is not False:
        yield f"container {name!r} may escalate privileges"
    capabilities = _get(context, "capabilities")
    if "ALL" not in (_get(capabilities, "drop") or []):
        yield f"container {name!r} does not drop all capabilities"
    if added := _get(capabilities, "add"):
        yield f"container {name!r} adds capabilities {', '.join(added)}"


def pod_security_problems(pod: Any) -> list[str]:
    """What in a pod (a manifest dict, or the V1Pod KubeSpawner builds) breaks the
    user-pod security rules."""
    spec = _get(pod, "spec")
    problems = [f"{key} is set" for key in ("hostNetwork", "hostPID", "hostIPC") if _get(spec, key)]
    problems += [
        f"volume {_get(volume, 'name')!r} is a hostPath"
        for volume in _get(spec, "volumes") or []
        if _get(volume, "hostPath") is not None
    ]
    if _get(spec, "automountServiceAccountToken") is not False:
        problems.append("the service-account token is mounted")
    seccomp = _get(_get(_get(spec, "securityContext"), "seccompProfile"), "type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append("no seccomp profile (RuntimeDefault) is set")
    for container in [*(_get(spec, "initContainers") or []), *(_get(spec, "containers") or [])]:
        problems.extend(_container_problems(container))
    return problems
