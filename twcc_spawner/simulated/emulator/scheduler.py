"""Scheduler stand-in: binds pending pods to nodes where they fit, reacting to store changes."""

from __future__ import annotations

import logging
from collections import Counter

from .controller import Controller
from .events import record_event
from .references import missing_claims
from .scheduling import (
    bound_usage,
    claims_message,
    node_failures,
    pod_requests,
    set_condition,
    unschedulable_message,
)
from .scoring import scores
from .store import Obj

log = logging.getLogger(__name__)

SCHEDULER_NAME = "default-scheduler"


class Scheduler(Controller):
    """Runs a scheduling pass whenever pods or nodes change."""

    watched = frozenset({"pods", "nodes", "persistentvolumeclaims"})

    def reconcile(self) -> None:
        """One pass over all pending, unbound pods, oldest first."""
        nodes = list(self.store.items("nodes"))
        pods = list(self.store.items("pods"))
        usage = bound_usage(pods)
        pending = [
            p
            for p in pods
            if not p["spec"].get("nodeName")
            and not p["metadata"].get("deletionTimestamp")
            and p["status"].get("phase") == "Pending"
            and p["spec"].get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
        ]
        pending.sort(key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]))
        for pod in pending:
            if missing := missing_claims(self.store, pod):
                self._mark_unschedulable(pod, claims_message(len(nodes), missing))
                continue
            failures = {
                n["metadata"]["name"]: node_failures(
                    pod, n, usage.get(n["metadata"]["name"], Counter())
                )
                for n in nodes
            }
            feasible = [n for n in nodes if not failures[n["metadata"]["name"]]]
            if feasible:
                scored = scores(pod, feasible, nodes, usage)
                # kube-scheduler breaks ties at random; the first name is repeatable
                node = min(scored, key=lambda name: (-scored[name], name))
                usage.setdefault(node, Counter()).update(pod_requests(pod))
                self._bind(pod, node)
            else:
                self._mark_unschedulable(pod, unschedulable_message(len(nodes), failures.values()))

    def _bind(self, pod: Obj, node: str) -> None:
        meta = pod["metadata"]
        pod = self.store.get("pods", meta["namespace"], meta["name"])
        pod["spec"]["nodeName"] = node
        set_condition(pod, {"type": "PodScheduled", "status": "True"})
        pod = self.store.update("pods", pod)
        message = f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}"
        log.info("scheduler: %s", message)
        record_event(self.store, pod, "Normal", "Scheduled", message, SCHEDULER_NAME)

    def _mark_unschedulable(self, pod: Obj, message: str) -> None:
        current = next(
            (c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"), {}
        )
        if current.get("message") == message:
            return
        meta = pod["metadata"]
        pod = self.store.get("pods", meta["namespace"], meta["name"])
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
        }
        set_condition(pod, condition)
        pod = self.store.update("pods", pod)
        log.info("scheduler: %s/%s: %s", meta["namespace"], meta["name"], message)
        record_event(self.store, pod, "Warning", "FailedScheduling", message, SCHEDULER_NAME)
