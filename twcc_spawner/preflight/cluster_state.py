"""The hub's in-memory picture of the cluster's GPU nodes, kept for the preflight checks.

:class:`ClusterState` is fed node and pod objects (from one watch of each,
:mod:`.cluster_watch`) and keeps, incrementally, what a preflight verdict needs so
that a verdict costs no API call and no pass over all pods:

- per node: allocatable resources, GFD driver and GPU family, the images it lists,
  and the requests of its non-terminated pods, so its free resources are one subtraction;
- nodes bucketed by free GPUs;
- per scheduling requirement (:class:`Placement`), the set of nodes that meet it,
  updated node by node as nodes change;
- per user, the GPUs their pods hold;
- the reservation ledger: GPUs admitted by the preflight whose pods are not yet
  bound to a node, counted against the node the preflight picked.

No I/O and no awaits: every method is synchronous, so a check followed by a
reservation cannot interleave with another spawn's.
"""

from __future__ import annotations

import sys
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..quantity import parse_quantity
from .gpu_labels import Labelling, NodeGpu, Term, and_terms, node_gpu, terms_match

TERMINATED = ("Succeeded", "Failed")
USERNAME_ANNOTATION = "hub.jupyter.org/username"
SERVERNAME_ANNOTATION = "hub.jupyter.org/servername"
_MEMO_SIZE = 256
_SHARED_USAGES = 4096


class Usage(NamedTuple):
    """GPUs, CPU (millicores) and memory (bytes)."""

    gpus: int = 0
    cpu: int = 0
    memory: int = 0

    def __add__(self, other: Any) -> Usage:  # type: ignore[override]
        return Usage(self.gpus + other.gpus, self.cpu + other.cpu, self.memory + other.memory)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.gpus - other.gpus, self.cpu - other.cpu, self.memory - other.memory)

    def covers(self, wanted: Usage) -> bool:
        """Whether this much free room takes ``wanted``."""
        return self.gpus >= wanted.gpus and self.cpu >= wanted.cpu and self.memory >= wanted.memory


def usage_of(resources: Mapping[str, Any], gpu_resource: str) -> Usage:
    """The :class:`Usage` of a resource map (``{"cpu": "8", "memory": "180G", ...}``)."""
    return Usage(
        int(parse_quantity(resources.get(gpu_resource, 0))),
        int(parse_quantity(resources.get("cpu", 0)) * 1000),
        int(parse_quantity(resources.get("memory", 0))),
    )


def _container_usage(container: Mapping[str, Any], gpu_resource: str) -> Usage:
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return usage_of(merged, gpu_resource)


def pod_key(pod: Mapping[str, Any]) -> str:
    """``namespace/name`` of a Pod object."""
    meta = pod["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def pod_usage(pod: Mapping[str, Any], gpu_resource: str) -> Usage:
    """What a pod holds on its node: containers summed, init containers at their largest."""
    spec = pod.get("spec") or {}
    if (pod.get("status") or {}).get("phase") in TERMINATED:
        return Usage()
    total = Usage()
    for container in spec.get("containers") or []:
        total = total + _container_usage(container, gpu_resource)
    for container in spec.get("initContainers") or []:
        init = _container_usage(container, gpu_resource)
        total = Usage(*(max(a, b) for a, b in zip(total, init, strict=True)))
    return total


@dataclass(frozen=True)
class Placement:
    """Where a pod may run: node selector, tolerations and required affinity terms."""

    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[tuple[tuple[str, str], ...], ...] = ()
    terms: tuple[Term, ...] = ()

    @classmethod
    def of(
        cls,
        node_selector: Mapping[str, str],
        tolerations: Iterable[Mapping[str, Any]],
        terms: Sequence[Term] = (),
    ) -> Placement:
        """A placement from a selector dict, toleration dicts (camelCase) and terms."""
        return cls(
            tuple(sorted(node_selector.items())),
            tuple(tuple(sorted((k, str(v)) for k, v in t.items())) for t in tolerations),
            tuple(terms),
        )

    def narrowed(self, terms: Sequence[Term]) -> Placement:
        """This placement, also requiring any of ``terms`` (no change if empty)."""
        return Placement(self.node_selector, self.tolerations, tuple(and_terms(self.terms, terms)))


def _tolerated(taint: Mapping[str, Any], tolerations: Iterable[Mapping[str, str]]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        key = toleration.get("key", "")
        if toleration.get("operator") == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


@dataclass(frozen=True)
class NodeInfo:
    """What the checks need from a Node object."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, Any], ...]
    schedulable: bool
    allocatable: Usage
    gpu: NodeGpu
    images: frozenset[str] = frozenset()
    """The image names the node lists in ``status.images`` (:mod:`.image_locality`)."""

    @classmethod
    def of(cls, node: Mapping[str, Any], gpu_resource: str) -> NodeInfo:
        """Read a Node object (as the API returns it)."""
        spec, status = node.get("spec") or {}, node.get("status") or {}
        labels = dict(node["metadata"].get("labels") or {})
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        return cls(
            name=node["metadata"]["name"],
            labels=labels,
            taints=tuple(
                t
                for t in spec.get("taints") or []
                if t.get("effect") in ("NoSchedule", "NoExecute")
            ),
            schedulable=ready and not spec.get("unschedulable"),
            allocatable=usage_of(status.get("allocatable") or {}, gpu_resource),
            gpu=node_gpu(labels),
            images=frozenset(
                sys.intern(name)
                for image in status.get("images") or ()
                for name in image.get("names") or ()
            ),
        )

    def admits(self, placement: Placement) -> bool:
        """Whether a pod with ``placement`` may be scheduled here (resources aside)."""
        if not self.schedulable:
            return False
        if any(self.labels.get(k) != v for k, v in placement.node_selector):
            return False
        tolerations = [dict(t) for t in placement.tolerations]
        if not all(_tolerated(taint, tolerations) for taint in self.taints):
            return False
        return not placement.terms or terms_match(placement.terms, self.labels)


@dataclass
class Reservation:
    """GPUs admitted for a spawn whose pod is not bound to a node yet."""

    node: str
    usage: Usage
    user: str
    server: str


@dataclass(slots=True)
class _PodEntry:
    """What a cached pod holds; a large cluster has hundreds of thousands, so kept small."""

    node: str | None
    usage: Usage
    user: str | None
    server: str


@dataclass
class ClusterState:
    """Indexes over nodes, pods and reservations; see the module docstring."""

    gpu_resource: str = "nvidia.com/gpu"
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    _pods: dict[str, _PodEntry] = field(default_factory=dict)
    _usages: dict[Usage, Usage] = field(default_factory=dict)  # one object per distinct usage
    _used: dict[str, Usage] = field(default_factory=dict)
    _reserved: dict[str, Usage] = field(default_factory=dict)
    _free_gpus: dict[str, int] = field(default_factory=dict)
    _by_free_gpus: dict[int, set[str]] = field(default_factory=dict)
    _eligible: OrderedDict[Placement, set[str]] = field(default_factory=OrderedDict)
    _by_user: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    _census: Counter[str] = field(default_factory=Counter)

    # --- nodes -------------------------------------------------------------

    def set_node(self, obj: Mapping[str, Any]) -> None:
        """A node was added or changed."""
        info = NodeInfo.of(obj, self.gpu_resource)
        old = self.nodes.get(info.name)
        if old == info:
            return
        if old is not None:
            self._count(old, -1)
        self.nodes[info.name] = info
        self._count(info, +1)
        for placement, members in self._eligible.items():
            if info.admits(placement):
                members.add(info.name)
            else:
                members.discard(info.name)
        self._refresh_free(info.name)

    def remove_node(self, name: str) -> None:
        """A node was deleted."""
        old = self.nodes.pop(name, None)
        if old is None:
            return
        self._count(old, -1)
        for members in self._eligible.values():
            members.discard(name)
        self._refresh_free(name)

    def keep_nodes(self, names: set[str]) -> None:
        """Drop the nodes not in ``names`` (those a full list no longer showed)."""
        for name in set(self.nodes) - names:
            self.remove_node(name)

    def replace_nodes(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """The full node list: apply the differences."""
        objs = list(objs)
        for obj in objs:
            self.set_node(obj)
        self.keep_nodes({obj["metadata"]["name"] for obj in objs})

    def _count(self, info: NodeInfo, delta: int) -> None:
        if info.allocatable.gpus <= 0:
            return
        self._census["gpu-nodes"] += delta
        if info.gpu.driver_scheme:
            self._census["driver:" + info.gpu.driver_scheme] += delta
        if info.gpu.family_source:
            self._census["family:" + info.gpu.family_source] += delta

    def labelling(self) -> Labelling:
        """The GFD labels that at least one GPU node carries."""
        return Labelling(
            frozenset(k[7:] for k, n in self._census.items() if k.startswith("driver:") and n),
            frozenset(k[7:] for k, n in self._census.items() if k.startswith("family:") and n),
        )

    @property
    def gpu_node_count(self) -> int:
        """Nodes advertising at least one GPU."""
        return self._census["gpu-nodes"]

    def eligible(self, placement: Placement) -> set[str]:
        """Names of the nodes a pod with ``placement`` may be scheduled on (do not mutate)."""
        members = self._eligible.get(placement)
        if members is None:
            members = {n for n, info in self.nodes.items() if info.admits(placement)}
            self._eligible[placement] = members
            if len(self._eligible) > _MEMO_SIZE:
                self._eligible.popitem(last=False)
        else:
            self._eligible.move_to_end(placement)
        return members

    # --- pods --------------------------------------------------------------

    def set_pod(self, obj: Mapping[str, Any]) -> None:
        """A pod was added or changed."""
        key = pod_key(obj)
        annotations = obj["metadata"].get("annotations") or {}
        node = (obj.get("spec") or {}).get("nodeName")
        user = annotations.get(USERNAME_ANNOTATION)
        usage = pod_usage(obj, self.gpu_resource)
        entry = _PodEntry(
            sys.intern(node) if node else None,
            self._shared(usage),
            sys.intern(user) if user else None,
            sys.intern(annotations.get(SERVERNAME_ANNOTATION, "")),
        )
        self._unindex(key)
        self._pods[key] = entry
        if entry.node:
            self._used[entry.node] = self._used.get(entry.node, Usage()) + entry.usage
            self._refresh_free(entry.node)
        if entry.user and entry.usage.gpus:
            self._by_user.setdefault(entry.user, {})[key] = (entry.server, entry.usage.gpus)
        if key in self.reservations and (entry.node or entry.usage == Usage()):
            self.release(key)

    def remove_pod(self, key: str) -> None:
        """A pod was deleted (``key`` is ``namespace/name``)."""
        self._unindex(key)
        self._pods.pop(key, None)

    def _shared(self, usage: Usage) -> Usage:
        """One object per distinct usage (pods mostly share a few), up to a bound."""
        if len(self._usages) < _SHARED_USAGES:
            return self._usages.setdefault(usage, usage)
        return self._usages.get(usage, usage)

    def keep_pods(self, keys: set[str]) -> None:
        """Drop the pods not in ``keys`` (those a full list no longer showed)."""
        for key in set(self._pods) - keys:
            self.remove_pod(key)

    def replace_pods(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """The full pod list: apply the differences."""
        objs = list(objs)
        for obj in objs:
            self.set_pod(obj)
        self.keep_pods({pod_key(obj) for obj in objs})

    def _unindex(self, key: str) -> None:
        old = self._pods.get(key)
        if old is None:
            return
        if old.node:
            self._used[old.node] = self._used[old.node] - old.usage
            self._refresh_free(old.node)
        if old.user and old.user in self._by_user:
            self._by_user[old.user].pop(key, None)

    def user_gpus(self, user: str, exclude: str = "") -> dict[str, int]:
        """GPUs ``user`` holds, by server name ("" is the default server).

        Counts their non-terminated pods (but not the pod ``exclude``, which the
        spawn replaces) and their reservations.
        """
        held: dict[str, int] = {}
        for key, (server, gpus) in self._by_user.get(user, {}).items():
            if key != exclude:
                held[server] = held.get(server, 0) + gpus
        for key, reservation in self.reservations.items():
            if reservation.user == user and key != exclude:
                held[reservation.server] = held.get(reservation.server, 0) + reservation.usage.gpus
        return held

    # --- free resources and reservations ------------------------------------

    def free(self, node: str) -> Usage:
        """Allocatable minus bound pods' requests minus reservations."""
        info = self.nodes.get(node)
        if info is None:
            return Usage()
        used = self._used.get(node, Usage()) + self._reserved.get(node, Usage())
        return info.allocatable - used

    def _refresh_free(self, node: str) -> None:
        old = self._free_gpus.pop(node, None)
        if old is not None:
            self._by_free_gpus[old].discard(node)
        if node in self.nodes:
            gpus = self.free(node).gpus
            self._free_gpus[node] = gpus
            self._by_free_gpus.setdefault(gpus, set()).add(node)

    def best_fit(self, eligible: set[str], wanted: Usage) -> tuple[str | None, int, bool]:
        """The node to reserve for ``wanted``: the fullest one with room.

        Returns ``(node, largest_free_gpus, short_of_cpu_or_memory)``; ``node`` is None
        when none has room, and the third item tells whether some node had the
        GPUs but not the CPU or memory.
        """
        largest, short = 0, False
        for gpus in sorted(self._by_free_gpus, reverse=True):
            if gpus > 0 and not self._by_free_gpus[gpus].isdisjoint(eligible):
                largest = gpus
                break
        for gpus in sorted(g for g in self._by_free_gpus if g >= wanted.gpus):
            bucket = self._by_free_gpus[gpus]
            # Walk the smaller set and stop at the first fit: no O(nodes) intersection.
            few, many = (bucket, eligible) if len(bucket) <= len(eligible) else (eligible, bucket)
            for node in few:
                if node not in many:
                    continue
                if self.free(node).covers(wanted):
                    return node, largest, False
                short = True
        return None, largest, short

    def fits_ever(self, eligible: set[str], wanted: Usage) -> bool:
        """Whether some node of ``eligible`` could take ``wanted`` once empty (O(eligible))."""
        return any(self.nodes[n].allocatable.covers(wanted) for n in eligible if n in self.nodes)

    def roomiest(self, eligible: set[str], held: frozenset[str]) -> str | None:
        """The node of ``eligible``, not in ``held``, with the most free GPUs (None if none)."""
        for gpus in sorted(self._by_free_gpus, reverse=True):
            bucket = self._by_free_gpus[gpus]
            few, many = (bucket, eligible) if len(bucket) <= len(eligible) else (eligible, bucket)
            for node in sorted(few):
                if node in many and node not in held:
                    return node
        return None

    def reserve(self, key: str, reservation: Reservation) -> None:
        """Count ``reservation`` against its node until the pod ``key`` is bound."""
        self.release(key)
        self.reservations[key] = reservation
        node = reservation.node
        self._reserved[node] = self._reserved.get(node, Usage()) + reservation.usage
        self._refresh_free(node)

    def release(self, key: str) -> None:
        """Forget the reservation of pod ``key`` (bound, failed or stopped)."""
        reservation = self.reservations.pop(key, None)
        if reservation is not None:
            node = reservation.node
            self._reserved[node] = self._reserved[node] - reservation.usage
            self._refresh_free(node)
