"""Preflight verdict time against cluster size, on the hub's cache without an API server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from twcc_spawner import TWCCSpawner
from twcc_spawner.preflight.checks import Cluster, run_checks
from twcc_spawner.preflight.cluster_state import ClusterState
from twcc_spawner.selection import resolve

from . import workload
from .hub import SIZE, user
from .stats import summary


def _state(nodes: int, pods_per_node: int) -> ClusterState:
    state = ClusterState(workload.GPU_RESOURCE)
    state.replace_nodes(workload.nodes(nodes))
    state.replace_pods(workload.pods(nodes, pods_per_node))
    return state


async def verdict_time(
    node_counts: list[int], pods_per_node: int, profiles: Path, rounds: int
) -> dict[str, Any]:
    """Per cluster size: the first verdict (cold placement index) and the steady one.

    A verdict is what a spawn computes after its selection is resolved: the
    request (placement, usage, offered releases and sizes) and every check.
    """
    spawner = TWCCSpawner(_mock=True, user=user("verdict"), profiles_dir=str(profiles))
    spawner.selection = resolve(spawner.catalog(), {"size": SIZE}, frozenset())
    results = {}
    for nodes in node_counts:
        cluster = Cluster(_state(nodes, pods_per_node), True, "cluster")
        samples = []
        for _ in range(rounds + 1):
            started = time.perf_counter()
            verdicts = run_checks(cluster, spawner.preflight_request())
            samples.append(time.perf_counter() - started)
        assert verdicts[-1].ok, verdicts[-1].message
        results[str(nodes)] = {
            "pods": nodes * pods_per_node,
            "first_s": samples[0],
            "verdict_s": summary(samples[1:]),
        }
    TWCCSpawner._catalog_sources.clear()
    return results
