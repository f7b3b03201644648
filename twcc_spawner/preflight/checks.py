"""Preflight checks: refuse a spawn that cannot work before a GPU is held.

Each check is a pure function of the hub's :class:`~.cluster_state.ClusterState`
and a :class:`Request`, returning a :class:`Verdict` whose message is for the
researcher and, when refusing, says what to do instead. The checks run in
:data:`CHECKS` order; the first refusal ends the spawn.

======================  ======  =====================================================
check                   status  refuses when
======================  ======  =====================================================
``access``              403     the release or size is not offered to the user
``quota``               403     the user's GPUs (running, starting and waiting in
                                the queue) would exceed their quota
``driver``              409     no usable GPU node has a driver the release supports
``architecture``        409     no usable GPU node has a GPU the release supports
``capacity``            503     no usable GPU node has the size's free GPUs, CPU and
                                memory now (in-flight spawns count); the spawn may
                                wait in the queue (``queueable``)
``capacity``            409     no usable GPU node is large enough for the size, even
                                empty: waiting would not help
======================  ======  =====================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from ..catalog import Release, Size, gpu_label
from ..selection import Selection
from .cluster_state import ClusterState, NodeInfo, Placement, Usage
from .gpu_labels import Term, and_terms, driver_needed, driver_satisfies, release_terms

RETRY = "try again in a few minutes"


@dataclass(frozen=True)
class Request:
    """What a spawn asks of the cluster, and what the user may pick instead."""

    selection: Selection
    user: str
    server: str
    pod_key: str
    placement: Placement
    wanted: Usage
    releases: tuple[Release, ...]
    sizes: tuple[Size, ...]
    quota: int | None = None
    waiting: tuple[tuple[str, int], ...] = ()
    """GPUs the user waits for in the queue, by server (counted against the quota)."""
    excluded: frozenset[str] = frozenset()
    """Nodes held for older queued spawns: the capacity check does not place on them."""


@dataclass(frozen=True)
class Verdict:
    """A check's outcome: ``message`` is shown on the spawn page either way."""

    check: str
    ok: bool
    message: str
    status_code: int = 200
    skipped: bool = False
    warn: bool = False
    terms: tuple[Term, ...] = ()
    node: str | None = None
    queueable: bool = False
    """A capacity refusal that freed GPUs would lift: the spawn may wait for them."""


@dataclass(frozen=True)
class Cluster:
    """The state and what the hub may read of it."""

    state: ClusterState
    nodes_known: bool
    pods_scope: str | None  # "cluster", "namespace <ns>" or None


def _skip(check: str, why: str, *, warn: bool = False) -> Verdict:
    """A pass without checking; ``warn`` asks for a (one-time) log warning too."""
    message = f"{check.capitalize()} check skipped: {why}."
    return Verdict(check, True, message, skipped=True, warn=warn)


def _and_list(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _free_gpus(gpus: int) -> str:
    """``1 free GPU`` / ``2 free GPUs``."""
    return f"{gpus} free GPU{'s' * (gpus != 1)}"


def _nodes(count: int) -> str:
    return f"{count} suitable node{'s' * (count != 1)}"


def _server_name(server: str) -> str:
    return server or "default"


def _pick_gpus(counts: Iterable[int]) -> str:
    """``Pick 1 or 2 GPUs``; empty if there is nothing to pick."""
    counts = sorted(set(counts))
    if not counts:
        return ""
    return f"Pick {_and_list([str(n) for n in counts])} GPU{'s' * (counts != [1])}"


def check_access(cluster: Cluster, request: Request) -> Verdict:
    """The release and size are offered to the user (never names what is not)."""
    selection = request.selection
    if selection.release not in request.releases or selection.size not in request.sizes:
        return Verdict("access", False, f"{selection.label} is not offered to you.", 403)
    return Verdict("access", True, f"{selection.label} is offered to you.")


def check_quota(cluster: Cluster, request: Request) -> Verdict:
    """The user's GPUs, running and starting, plus this spawn's stay within their quota."""
    if request.quota is None:
        return Verdict("quota", True, "No GPU quota applies to you.")
    if cluster.pods_scope is None:
        return _skip("quota", "the hub cannot read pods")
    held = cluster.state.user_gpus(request.user, exclude=request.pod_key)
    for server, gpus in request.waiting:
        held[server] = held.get(server, 0) + gpus
    total, wanted, quota = sum(held.values()), request.wanted.gpus, request.quota
    if total + wanted <= quota:
        return Verdict("quota", True, f"GPU quota: {total + wanted} of your {quota} GPUs in use.")
    servers = ", ".join(f"{_server_name(s)} {n}" for s, n in sorted(held.items()) if n)
    message = f"You hold {total} of your {quota} GPUs" + (f" (servers: {servers})" if held else "")
    message += f"; {wanted} more would exceed it."
    pick = _pick_gpus(s.gpus for s in request.sizes if s.gpus <= quota - total)
    message += f" {pick} or stop a server." if pick else " Stop a server first."
    return Verdict("quota", False, message, 403)


def _usable_gpu_nodes(cluster: Cluster, request: Request) -> list[NodeInfo]:
    """The GPU nodes the pod may use (for a refusal's message: O(nodes))."""
    nodes = cluster.state.nodes
    return [
        nodes[n] for n in cluster.state.eligible(request.placement) if nodes[n].allocatable.gpus
    ]


def _working_releases(nodes: list[NodeInfo], request: Request) -> list[str]:
    """Offered releases that some of ``nodes`` runs (driver and GPU), newest first."""
    kinds = {(n.gpu.driver, n.gpu.family) for n in nodes}
    return [
        r.release
        for r in request.releases
        if any(
            (d is None or driver_satisfies(d, r.driver)) and (f is None or f in r.architectures)
            for d, f in kinds
        )
    ]


def _pick_release(nodes: list[NodeInfo], request: Request) -> str:
    working = _working_releases(nodes, request)
    if not working:
        return " No PyTorch release offered to you runs on them; tell the hub's operators."
    return f" Pick PyTorch {_and_list(working[:3])}."


def _node_requirement(
    check: str,
    cluster: Cluster,
    request: Request,
    terms: list[Term],
    unlabelled: str,
    refusal: Callable[[list[NodeInfo]], str],
    passed: str,
) -> Verdict:
    """Refuse (409) if no usable node meets ``terms``; else pass them on to the pod."""
    if not terms:
        return _skip(check, unlabelled, warn=True)
    state = cluster.state
    if state.eligible(request.placement) and not state.eligible(request.placement.narrowed(terms)):
        nodes = _usable_gpu_nodes(cluster, request)
        return Verdict(check, False, refusal(nodes) + _pick_release(nodes, request), 409)
    return Verdict(check, True, passed, terms=tuple(terms))


def check_driver(cluster: Cluster, request: Request) -> Verdict:
    """Some usable GPU node has a driver the release supports; its terms go on the pod."""
    if not cluster.nodes_known:
        return _skip("driver", "the hub cannot read nodes")
    release = request.selection.release
    terms, _ = release_terms(release, cluster.state.labelling())

    def refusal(nodes: list[NodeInfo]) -> str:
        drivers = Counter(n.gpu.driver_text for n in nodes if n.gpu.driver_text)
        have = ", ".join(f"{d} ({n} node{'s' * (n > 1)})" for d, n in sorted(drivers.items()))
        return (
            f"{release.title} needs {driver_needed(release.driver)}; "
            f"the GPU nodes have driver {have}."
        )

    return _node_requirement(
        "driver",
        cluster,
        request,
        terms,
        "GPU nodes carry no NVIDIA GPU Feature Discovery driver labels",
        refusal,
        f"Driver: GPU nodes with a driver for {release.title}.",
    )


def check_architecture(cluster: Cluster, request: Request) -> Verdict:
    """Some usable GPU node (with a good driver) has a GPU the release supports."""
    if not cluster.nodes_known:
        return _skip("architecture", "the hub cannot read nodes")
    release = request.selection.release
    _, terms = release_terms(release, cluster.state.labelling())

    def refusal(nodes: list[NodeInfo]) -> str:
        gpus = sorted(
            {
                f"{(n.gpu.family or 'unknown').capitalize()} "
                f"({n.labels.get('nvidia.com/gpu.product', 'GPU')})"
                for n in nodes
            }
        )
        supported = ", ".join(a.capitalize() for a in release.architectures)
        return f"{release.title} supports {supported} GPUs; the GPU nodes have {', '.join(gpus)}."

    return _node_requirement(
        "architecture",
        cluster,
        request,
        terms,
        "GPU nodes carry no GPU Feature Discovery family or compute capability labels",
        refusal,
        f"GPU: nodes with a GPU {release.title} supports.",
    )


def check_capacity(cluster: Cluster, request: Request) -> Verdict:
    """A usable node has the GPUs, CPU and memory free now; names the node to reserve."""
    if not cluster.nodes_known or cluster.pods_scope != "cluster":
        return _skip("capacity", "the hub cannot read nodes and every namespace's pods")
    state, wanted, size = cluster.state, request.wanted, request.selection.size
    eligible = state.eligible(request.placement)
    usable = eligible - request.excluded if request.excluded else eligible
    node, largest, short = state.best_fit(usable, wanted)
    if node is not None:
        return Verdict(
            "capacity",
            True,
            f"Capacity: {gpu_label(size.gpus)} held for you on one of {_nodes(len(eligible))}.",
            node=node,
        )
    if not eligible:
        message = (
            "No GPU node can take this server now: none is ready, schedulable and "
            f"suitable for {request.selection.release.title}. Please {RETRY}, or tell the "
            "hub's operators if this persists."
        )
    elif not state.fits_ever(eligible, wanted):
        biggest = max(state.nodes[n].allocatable.gpus for n in eligible)
        message = (
            f"No suitable node is large enough for size {size.name} ({gpu_label(size.gpus)}, "
            f"{size.cpu:g} CPU cores, {size.memory} memory) even when empty; "
            f"the largest has {gpu_label(biggest)}."
        )
        pick = _pick_gpus(s.gpus for s in request.sizes if s.gpus <= biggest)
        return Verdict("capacity", False, message + (f" {pick}." if pick else ""), 409)
    elif short:
        message = (
            f"Nodes with {_free_gpus(size.gpus)} lack the {size.cpu:g} CPU cores or "
            f"{size.memory} memory of size {size.name} now. Please {RETRY}."
        )
    elif largest == 0:
        message = f"No GPU is free now on the {_nodes(len(eligible))}. Please {RETRY}."
    else:
        message = (
            f"No node has {_free_gpus(size.gpus)} now; "
            f"the largest free block is {gpu_label(largest)}."
        )
        pick = _pick_gpus(s.gpus for s in request.sizes if s.gpus <= largest)
        message += f" {pick} or {RETRY}." if pick else f" Please {RETRY}."
    return Verdict("capacity", False, message, 503, queueable=bool(eligible))


Check = Callable[[Cluster, Request], Verdict]

CHECKS: tuple[Check, ...] = (
    check_access,
    check_quota,
    check_driver,
    check_architecture,
    check_capacity,
)


def run_checks(
    cluster: Cluster, request: Request, checks: Iterable[Check] = CHECKS
) -> list[Verdict]:
    """All verdicts up to and including the first refusal, in :data:`CHECKS` order.

    The node-affinity terms of a passed check narrow the placement the later
    checks look at, as they will narrow the pod's. ``checks`` runs a part of them.
    """
    verdicts: list[Verdict] = []
    for check in checks:
        verdict = check(cluster, request)
        verdicts.append(verdict)
        if not verdict.ok:
            break
        if verdict.terms:
            request = replace(request, placement=request.placement.narrowed(verdict.terms))
    return verdicts


def pod_terms(verdicts: Iterable[Verdict]) -> list[Term]:
    """The node-affinity terms the pod needs: every check's terms, all required."""
    terms: list[Term] = []
    for verdict in verdicts:
        terms = and_terms(terms, verdict.terms)
    return terms


def release_fit(cluster: Cluster, request: Request) -> tuple[list[Verdict], Placement]:
    """The driver and architecture verdicts of the request's release, and the placement
    their terms leave (where the release's pods may go): the form's shared first step."""
    found = run_checks(cluster, request, (check_driver, check_architecture))
    return found, request.placement.narrowed(pod_terms(found))
