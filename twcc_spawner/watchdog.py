"""Fail fast: a pod that cannot become ready ends the spawn with its reason.

KubeSpawner waits for the pod until ``start_timeout`` (minutes, for big NGC
images). A pod that no node can take, an image that cannot be pulled, or a
container that exited (the start script's own checks exit with a one-line
reason) will never become ready; :func:`pod_failure` says so from the pod's
status, so the spawn ends within seconds with that reason on the spawn page.
A container the kubelet restarts (KubeSpawner's pods restart ``OnFailure``) ends
the spawn at its first exit too, with that exit's reason from ``lastState``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Waiting reasons that do not resolve by themselves.
STUCK_WAITING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
    }
)


def unschedulable_message(pod: Mapping[str, Any]) -> str | None:
    """The scheduler's message if the pod is marked unschedulable, else ``None``."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return condition.get("message") or "No node can run this server."
    return None


def _container_problem(status: Mapping[str, Any], kind: str) -> str | None:
    state = status.get("state") or {}
    # a container that is restarted (restartPolicy OnFailure) keeps its last exit in lastState
    terminated = state.get("terminated") or (status.get("lastState") or {}).get("terminated")
    # an init container that exits 0 has done its job; a main container never should
    if terminated and (kind == "main" or terminated.get("exitCode") != 0):
        reason = (terminated.get("message") or "").strip() or terminated.get("reason") or "exited"
        return (
            f"The {kind} container {status.get('name')!r} exited with code "
            f"{terminated.get('exitCode')}: {reason}"
        )
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in STUCK_WAITING_REASONS:
        name, detail = status.get("name"), waiting.get("message") or ""
        return f"The {kind} container {name!r} is stuck: {waiting['reason']}. {detail}".strip()
    return None


def container_failure(pod: Mapping[str, Any]) -> str | None:
    """Why the pod's containers will not become ready, or ``None`` if they still may."""
    status = pod.get("status") or {}
    for kind, key in (("init", "initContainerStatuses"), ("main", "containerStatuses")):
        for container in status.get(key) or []:
            problem = _container_problem(container, kind)
            if problem:
                return problem
    if status.get("phase") == "Failed":
        return status.get("message") or "The pod failed."
    return None
