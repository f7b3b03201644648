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


def _container_problems(container: Mapping[str, Any]) -> Iterator[str]:
    name = container.get("name")
    context = container.get("securityContext") or {}
    if context.get("privileged"):
        yield f"container {name!r} is privileged"
    if context.get("allowPrivilegeEscalation") is not False:
        yield f"container {name!r} may escalate privileges"
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        yield f"container {name!r} does not drop all capabilities"
    if capabilities.get("add"):
        yield f"container {name!r} adds capabilities {', '.join(capabilities['add'])}"


def pod_security_problems(pod: Mapping[str, Any]) -> list[str]:
    """What in a pod manifest (as the API sees it) breaks the user-pod security rules."""
    spec = pod.get("spec") or {}
    problems = [f"{key} is set" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    problems += [
        f"volume {volume.get('name')!r} is a hostPath"
        for volume in spec.get("volumes") or []
        if "hostPath" in volume
    ]
    if spec.get("automountServiceAccountToken") is not False:
        problems.append("the service-account token is mounted")
    seccomp = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append("no seccomp profile (RuntimeDefault) is set")
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        problems.extend(_container_problems(container))
    return problems
