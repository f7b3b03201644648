"""Scheduling predicates: resource fit, node selector/affinity, taints, unschedulable."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ...quantity import parse_quantity
from .store import Obj, now

TERMINATED = ("Succeeded", "Failed")


def pod_requests(pod: Obj) -> Counter[str]:
    """Effective requests of a pod: containers summed, init containers maxed, plus one pod."""
    spec = pod.get("spec", {})
    total: Counter[str] = Counter()
    for container in spec.get("containers", []):
        total.update(_container_requests(container))
    for container in spec.get("initContainers", []):
        for name, value in _container_requests(container).items():
            total[name] = max(total[name], value)
    total["pods"] = Decimal(1)
    return total


def _container_requests(container: Mapping[str, Any]) -> dict[str, Decimal]:
    resources = container.get("resources", {})
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: parse_quantity(value) for name, value in merged.items()}


def gpu_count(pod: Obj) -> int:
    """The number of ``nvidia.com/gpu`` a pod was granted."""
    return int(pod_requests(pod)["nvidia.com/gpu"])


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t["key"] == taint["key"]:
                return True
        elif t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def expression_matches(expr: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    key, op, wanted = expr["key"], expr["operator"], expr.get("values") or []
    present = key in values
    if op == "In":
        return present and values[key] in wanted
    if op == "NotIn":
        return not present or values[key] not in wanted
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present:
        try:
            actual, bound = int(values[key]), int(wanted[0])
        except (ValueError, IndexError):
            return False
        return actual > bound if op == "Gt" else actual < bound
    return False


def _affinity_matches(pod: Obj, node: Obj) -> bool:
    spec = pod.get("spec", {})
    labels = node["metadata"].get("labels", {})
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = (
        spec.get("affinity", {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    if not required:
        return True
    return any(term_matches(term, node) for term in required.get("nodeSelectorTerms", []))


def term_matches(term: Mapping[str, Any], node: Obj) -> bool:
    """Whether ``node`` matches a node selector term (its label expressions and fields)."""
    labels = node["metadata"].get("labels", {})
    fields = {"metadata.name": node["metadata"]["name"]}
    return all(expression_matches(e, labels) for e in term.get("matchExpressions") or []) and all(
        expression_matches(e, fields) for e in term.get("matchFields") or []
    )


def node_failures(pod: Obj, node: Obj, used: Counter[str]) -> list[str]:
    """Why ``pod`` cannot run on ``node`` (empty if it fits), in the scheduler's wording.

    ``used`` holds the requests of the non-terminated pods already bound to the node.
    Like the real scheduler, the first failing filter decides.
    """
    tolerations = pod.get("spec", {}).get("tolerations") or []
    if node.get("spec", {}).get("unschedulable") and not tolerates(
        tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    ):
        return ["node(s) were unschedulable"]
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return [f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"]
    if not _affinity_matches(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    allocatable = node.get("status", {}).get("allocatable", {})
    failures = []
    for name, wanted in sorted(pod_requests(pod).items()):
        if wanted <= 0:
            continue
        free = parse_quantity(allocatable.get(name, "0")) - used[name]
        if wanted > free:
            failures.append("Too many pods" if name == "pods" else f"Insufficient {name}")
    return failures


def unschedulable_message(node_count: int, failures: Iterable[list[str]]) -> str:
    """The FailedScheduling message: ``0/3 nodes are available: 3 Insufficient cpu.``"""
    counts = Counter(reason for reasons in failures for reason in reasons)
    reasons = sorted(f"{count} {reason}" for reason, count in counts.items())
    if not node_count:
        return "no nodes available to schedule pods"
    return f"0/{node_count} nodes are available: {', '.join(reasons)}."


def claims_message(node_count: int, missing: Iterable[str]) -> str:
    """The FailedScheduling message for PVCs that do not exist (no node can help)."""
    return (
        f"0/{node_count} nodes are available: {', '.join(missing)}. preemption: 0/{node_count} "
        f"nodes are available: {node_count} Preemption is not helpful for scheduling."
    )


def bound_usage(pods: Iterable[Obj]) -> dict[str, Counter[str]]:
    """Requests of non-terminated pods, summed per node."""
    usage: dict[str, Counter[str]] = {}
    for pod in pods:
        node = pod.get("spec", {}).get("nodeName")
        if node and pod.get("status", {}).get("phase") not in TERMINATED:
            usage.setdefault(node, Counter()).update(pod_requests(pod))
    return usage


def set_condition(pod: Obj, condition: dict[str, str]) -> None:
    """Replace the pod condition of the same type, stamping its transition time."""
    conditions = [c for c in pod["status"].get("conditions", []) if c["type"] != condition["type"]]
    conditions.append({**condition, "lastProbeTime": None, "lastTransitionTime": now()})
    pod["status"]["conditions"] = conditions
