"""Preflight verdicts on an in-memory cluster: every refusal, its message and status, speed."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from twcc_spawner.catalog import load_catalog
from twcc_spawner.preflight.checks import Cluster, Request, pod_terms, run_checks
from twcc_spawner.preflight.cluster_state import (
    ClusterState,
    NodeInfo,
    Placement,
    Reservation,
    Usage,
)
from twcc_spawner.selection import resolve

CATALOG = load_catalog(Path(__file__).parent.parent / "profiles")
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
PLACEMENT = Placement.of(
    {"nvidia.com/gpu.present": "true"},
    [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
)


def node(
    name: str,
    gpus: int = 8,
    driver: str | None = "470.57.02",
    family: str | None = "volta",
    product: str = "Tesla-V100-SXM2-32GB",
    ready: bool = True,
    cordoned: bool = False,
    cpu: str = "36",
    memory: str = "768Gi",
) -> dict[str, Any]:
    labels = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": product}
    if driver:
        major, minor, revision = driver.split(".")
        prefix = "nvidia.com/cuda.driver-version."
        labels |= {prefix + "major": major, prefix + "minor": minor, prefix + "revision": revision}
    if family:
        labels["nvidia.com/gpu.family"] = family
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": [GPU_TAINT], "unschedulable": cordoned},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(
    name: str,
    node_name: str | None,
    gpus: int,
    user: str | None = None,
    server: str = "",
    namespace: str = "jhub",
    phase: str = "Running",
) -> dict[str, Any]:
    annotations = {}
    if user:
        annotations = {"hub.jupyter.org/username": user, "hub.jupyter.org/servername": server}
    limits = {"nvidia.com/gpu": str(gpus), "cpu": str(4 * gpus), "memory": f"{90 * gpus}G"}
    return {
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"nodeName": node_name, "containers": [{"resources": {"limits": limits}}]},
        "status": {"phase": phase},
    }


def state_of(nodes: list[dict], pods: list[dict] = ()) -> ClusterState:
    state = ClusterState()
    state.replace_nodes(nodes)
    state.replace_pods(pods)
    return state


def request(
    release: str = "21.08",
    gpus: int = 2,
    user: str = "alice",
    groups: frozenset[str] = frozenset(),
    quota: int | None = None,
) -> Request:
    selection = resolve(CATALOG, {"release": release, "gpus": gpus}, groups)
    size = selection.size
    return Request(
        selection=selection,
        user=user,
        server="",
        pod_key=f"jhub/jupyter-{user}",
        placement=PLACEMENT,
        wanted=Usage(size.gpus, int(size.cpu * 1000), int(size.memory[:-1]) * 10**9),
        releases=CATALOG.releases_for(groups),
        sizes=CATALOG.sizes_for(groups),
        quota=quota,
    )


def verdict(state: ClusterState, req: Request, pods_scope: str | None = "cluster"):
    return run_checks(Cluster(state, True, pods_scope), req)[-1]


def test_all_checks_pass_and_name_the_node_and_the_pod_terms() -> None:
    state = state_of([node("gn1"), node("gn2")], [pod("a", "gn1", 7)])
    verdicts = run_checks(Cluster(state, True, "cluster"), request())
    assert [v.check for v in verdicts] == [
        "access",
        "quota",
        "driver",
        "architecture",
        "capacity",
    ]
    assert all(v.ok for v in verdicts)
    assert verdicts[-1].node == "gn2"
    assert verdicts[-1].message == "Capacity: 2 GPUs held for you on one of 2 suitable nodes."
    terms = pod_terms(verdicts)
    assert len(terms) == 5  # 21.08: 470+, or 4 data-center branches; and a supported family
    assert all(("nvidia.com/gpu.family", "In", ("ampere", "pascal", "turing", "volta")) in t
               for t in terms)  # fmt: skip


@pytest.mark.parametrize(
    "nodes, pods, gpus, message",
    [
        pytest.param(
            [node("gn1"), node("gn2")],
            [pod("a", "gn1", 7), pod("b", "gn2", 7)],
            2,
            "No node has 2 free GPUs now; the largest free block is 1 GPU. "
            "Pick 1 GPU or try again in a few minutes.",
            id="fragmented",
        ),
        pytest.param(
            [node("gn1")],
            [pod("a", "gn1", 4)],
            8,
            "No node has 8 free GPUs now; the largest free block is 4 GPUs. "
            "Pick 1, 2 or 4 GPUs or try again in a few minutes.",
            id="half-full",
        ),
        pytest.param(
            [node("gn1")],
            [pod("a", "gn1", 8)],
            1,
            "No GPU is free now on the 1 suitable node. Please try again in a few minutes.",
            id="full",
        ),
        pytest.param(
            [node("gn1", cpu="10")],
            [pod("a", "gn1", 1)],
            2,
            "Nodes with 2 free GPUs lack the 8 CPU cores or 180G memory of size c.xsuper now. "
            "Please try again in a few minutes.",
            id="cpu-short",
        ),
        pytest.param(
            [node("gn1", ready=False), node("gn2", cordoned=True)],
            [],
            1,
            "No GPU node can take this server now: none is ready, schedulable and suitable "
            "for PyTorch 21.08. Please try again in a few minutes, or tell the hub's operators "
            "if this persists.",
            id="none-ready",
        ),
    ],
)
def test_capacity_refusal(nodes, pods, gpus, message) -> None:
    result = verdict(state_of(nodes, pods), request(gpus=gpus))
    assert (result.check, result.ok, result.status_code) == ("capacity", False, 503)
    assert result.message == message
    assert result.queueable == ("none is ready" not in message)


@pytest.mark.parametrize(
    "nodes, gpus, message",
    [
        pytest.param(
            [node("gn1", gpus=4), node("gn2", gpus=4)],
            8,
            "No suitable node is large enough for size c.4xsuper (8 GPUs, 32 CPU cores, "
            "720G memory) even when empty; the largest has 4 GPUs. Pick 1, 2 or 4 GPUs.",
            id="too-few-gpus",
        ),
        pytest.param(
            [node("gn1", cpu="6")],
            2,
            "No suitable node is large enough for size c.xsuper (2 GPUs, 8 CPU cores, "
            "180G memory) even when empty; the largest has 8 GPUs. Pick 1, 2, 4 or 8 GPUs.",
            id="too-few-cores",
        ),
    ],
)
def test_a_size_no_node_could_ever_take_is_refused_for_good(nodes, gpus, message) -> None:
    result = verdict(state_of(nodes), request(gpus=gpus))
    assert (result.check, result.status_code, result.queueable) == ("capacity", 409, False)
    assert result.message == message


def test_nodes_held_for_the_queue_are_not_placed_on_and_waiting_gpus_count_for_quota() -> None:
    state = state_of([node("gn1"), node("gn2")], [pod("a", "gn1", 6)])
    held = replace(request(gpus=4), excluded=frozenset({"gn2"}))
    assert (verdict(state, held).status_code, verdict(state, held).queueable) == (503, True)
    assert verdict(state, replace(held, excluded=frozenset())).node == "gn2"
    waiting = replace(request(gpus=2, quota=4), waiting=(("big", 4),))
    assert verdict(state, waiting).check == "quota"
    assert "You hold 4 of your 4 GPUs (servers: big 4)" in verdict(state, waiting).message
    assert state.roomiest({"gn1", "gn2"}, frozenset()) == "gn2"
    assert state.roomiest({"gn1", "gn2"}, frozenset({"gn2"})) == "gn1"


def test_terminated_pods_and_other_nodes_pods_do_not_hold_gpus() -> None:
    pods = [pod("done", "gn1", 8, phase="Succeeded"), pod("pending", None, 8)]
    assert verdict(state_of([node("gn1")], pods), request(gpus=8)).ok


def test_driver_refusal_names_the_driver_needed_and_a_release_that_runs() -> None:
    state = state_of([node("gn1", driver="455.32.00"), node("gn2", driver="455.32.00")])
    result = verdict(state, request(release="22.02"))
    assert (result.check, result.status_code) == ("driver", 409)
    assert result.message == (
        "PyTorch 22.02 needs NVIDIA driver 510 or later (or a data-center driver 418.40+, "
        "440.33+, 450.51+, 460.27+, 470.57+); the GPU nodes have driver 455.32.00 (2 nodes). "
        "Pick PyTorch 20.11, 20.08 or 20.06."
    )
    assert verdict(state, request(release="20.11")).ok


def test_architecture_refusal_names_the_gpus_available() -> None:
    state = state_of([node("gn1", driver="525.60.13", family="hopper", product="H100-SXM5-80GB")])
    result = verdict(state, request(release="21.08"))
    assert (result.check, result.status_code) == ("architecture", 409)
    assert result.message.startswith(
        "PyTorch 21.08 supports Pascal, Volta, Turing, Ampere GPUs; "
        "the GPU nodes have Hopper (H100-SXM5-80GB)."
    )
    assert result.message.endswith("tell the hub's operators.")


def test_quota_counts_running_and_starting_servers_of_the_user() -> None:
    state = state_of(
        [node("gn1"), node("gn2")],
        [pod("a", "gn1", 4, user="alice"), pod("b", "gn1", 2, user="bob")],
    )
    state.reserve("jhub/jupyter-alice--exp", Reservation("gn2", Usage(2), "alice", "exp"))
    result = verdict(state, request(gpus=4, quota=8))
    assert (result.check, result.status_code) == ("quota", 403)
    assert result.message == (
        "You hold 6 of your 8 GPUs (servers: default 4, exp 2); 4 more would exceed it. "
        "Pick 1 or 2 GPUs or stop a server."
    )
    assert verdict(state, request(gpus=2, quota=8)).ok


def test_quota_ignores_the_pod_this_spawn_replaces() -> None:
    state = state_of([node("gn1"), node("gn2")], [pod("jupyter-alice", "gn1", 8, user="alice")])
    assert verdict(state, request(gpus=8, quota=8)).ok


def test_refusals_never_name_a_release_or_size_the_user_may_not_see() -> None:
    catalog = CATALOG
    restricted = replace(catalog.releases[5], groups=frozenset({"pilot"}))  # 20.11
    big = replace(catalog.sizes[2], groups=frozenset({"pilot"}))  # 4 GPUs
    releases = (*catalog.releases[:5], restricted, *catalog.releases[6:])
    sizes = (*catalog.sizes[:2], big, *catalog.sizes[3:])
    offered = {
        "releases": tuple(r for r in releases if r.available_to(frozenset())),
        "sizes": tuple(s for s in sizes if s.available_to(frozenset())),
    }
    old_driver = state_of([node("gn1", driver="455.32.00")])
    driver = verdict(old_driver, replace(request(release="22.02"), **offered))
    assert "20.11" not in driver.message and "Pick PyTorch 20.08, 20.06 or 20.02" in driver.message
    state = state_of([node("gn1")], [pod("a", "gn1", 4)])
    capacity = verdict(state, replace(request(release="21.08", gpus=8), **offered))
    assert "Pick 1 or 2 GPUs" in capacity.message and "4 GPUs" in capacity.message
    assert "Pick 1, 2 or 4" not in capacity.message
    access = verdict(state, replace(request(release="20.11"), **offered))
    assert (access.check, access.status_code) == ("access", 403)


def test_checks_without_data_are_skipped() -> None:
    state = state_of([node("gn1", driver=None, family=None)])
    verdicts = run_checks(Cluster(state, True, None), request(quota=4))
    assert all(v.ok for v in verdicts)
    skipped = {v.check: (v.message, v.warn) for v in verdicts if v.skipped}
    assert skipped == {
        "quota": ("Quota check skipped: the hub cannot read pods.", False),
        "driver": (
            "Driver check skipped: GPU nodes carry no NVIDIA GPU Feature Discovery driver labels.",
            True,
        ),
        "architecture": (
            "Architecture check skipped: GPU nodes carry no GPU Feature Discovery family or "
            "compute capability labels.",
            True,
        ),
        "capacity": (
            "Capacity check skipped: the hub cannot read nodes and every namespace's pods.",
            False,
        ),
    }


def test_reservations_stop_overcommit_until_the_pod_is_bound() -> None:
    state = state_of([node(f"gn{i}") for i in range(5)])  # 40 free GPUs
    admitted = []
    for i in range(50):
        req = replace(request(gpus=2), pod_key=f"jhub/p{i}")
        result = verdict(state, req)
        if result.ok:
            state.reserve(req.pod_key, Reservation(result.node, req.wanted, "alice", str(i)))
            admitted.append((req.pod_key, result.node))
    assert len(admitted) == 20
    key, where = admitted[0]
    state.set_pod(pod(key.split("/")[1], where, 2))  # bound: the pod holds them now
    assert key not in state.reservations
    assert not verdict(state, request(gpus=2)).ok
    state.release(admitted[1][0])  # a spawn failed
    assert verdict(state, request(gpus=2)).ok


def test_a_verdict_reads_the_indexes_not_every_node(monkeypatch) -> None:
    """Nodes are checked against a placement once; a verdict then looks at a few nodes.

    (The time a verdict takes is measured by ``python -m bench``, not here.)
    """
    nodes = [node(f"gn{i:04d}", driver="470.57.02" if i % 2 else "510.47.03") for i in range(5000)]
    state = state_of(nodes)
    for i in range(5000):
        for j in range(5):
            state.set_pod(pod(f"p{i}-{j}", f"gn{i:04d}", 1 if j < 3 - i % 2 else 0))
    req = request(release="22.02", gpus=2)
    cluster = Cluster(state, True, "cluster")
    first = run_checks(cluster, req)[-1]  # fills the eligibility index once
    calls: Counter[str] = Counter()
    for owner, name in ((NodeInfo, "admits"), (ClusterState, "free")):
        original = getattr(owner, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls[_name] += 1
            return _original(*args)

        monkeypatch.setattr(owner, name, counted)
    again = run_checks(cluster, req)[-1]
    assert again.ok and again.node == first.node
    assert calls["admits"] == 0  # no node is matched against the placement again
    assert calls["free"] < 10  # the free-GPU buckets lead to a node with room at once
