"""Synthetic clusters, background pods and catalogs for the benchmarks.

A cluster is ``nodes`` V100 nodes of 8 GPUs; each node carries ``pods_per_node``
running pods: one GPU job holding all but the node's free GPUs, one hub user
server, and small CPU pods for the rest.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from twcc_spawner.catalog import Catalog
from twcc_spawner.simulated.emulator.cluster import node_objects

SHIPPED_PROFILES = Path(__file__).resolve().parent.parent / "profiles"
GPUS_PER_NODE = 8
GPU_RESOURCE = "nvidia.com/gpu"
USER_NAMESPACE = "default"
JOB_NAMESPACE = "batch"

#: Free GPUs per node, by node index: a cluster partly full, so every check has work.
FreeGpus = Callable[[int], int]


#: Image pull rate of the benchmarks' emulated nodes (100 GB/s: an NGC image in 60 ms),
#: so that spawn times measure the spawners, not the simulated pulls.
FAST_PULLS = 100e9


def mixed_free(index: int) -> int:
    """0, 1, 2, 4 or 8 free GPUs, node after node."""
    return (0, 1, 2, 4, 8)[index % 5]


def few_free(free_gpus: int, per_node: int = 4) -> FreeGpus:
    """``free_gpus`` GPUs free in total, ``per_node`` on each of the first nodes (the rest on
    the next)."""
    full, rest = divmod(free_gpus, per_node)
    return lambda index: per_node if index < full else rest if index == full else 0


def cluster(nodes: int) -> dict[str, Any]:
    """An emulator cluster description of ``nodes`` tainted V100 nodes."""
    return {
        "defaults": {
            "cpu": "72",
            "memory": "1536Gi",
            "gpu": {
                "product": "Tesla-V100-SXM2-32GB",
                "family": "volta",
                "compute": "7.0",
                "count": GPUS_PER_NODE,
                "memory": 32768,
                "driver": "510.47.03",
            },
            "taints": [{"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}],
        },
        "nodes": [{"name": f"gn{i:05d}"} for i in range(nodes)],
    }


def nodes(count: int) -> list[dict[str, Any]]:
    """The Node objects of :func:`cluster`."""
    return node_objects(cluster(count))


def _pod(
    name: str, namespace: str, node: str, requests: dict[str, str], **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, **meta},
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "main", "image": "busybox", "resources": {"requests": requests}}
            ],
        },
        "status": {"phase": "Running"},
    }


def pods(node_count: int, per_node: int, free: FreeGpus = mixed_free) -> Iterator[dict[str, Any]]:
    """The running pods on the nodes of :func:`cluster` (``per_node`` >= 2)."""
    for index in range(node_count):
        node, user = f"gn{index:05d}", f"user{index:05d}"
        held = GPUS_PER_NODE - free(index)
        gpu_job = {GPU_RESOURCE: str(held), "cpu": str(4 * held), "memory": f"{90 * held}G"}
        yield _pod(f"train-{node}", JOB_NAMESPACE, node, gpu_job)
        yield _pod(
            f"jupyter-{user}",
            USER_NAMESPACE,
            node,
            {"cpu": "1", "memory": "4G"},
            labels={"component": "singleuser-server"},
            annotations={"hub.jupyter.org/username": user},
        )
        for k in range(per_node - 2):
            yield _pod(f"svc-{node}-{k}", JOB_NAMESPACE, node, {"cpu": "100m", "memory": "128Mi"})


def write_catalog(directory: Path, releases: int, sizes: int) -> Path:
    """A catalog of ``releases`` x ``sizes`` in ``directory``, cloned from the shipped one."""
    shipped_releases = yaml.safe_load((SHIPPED_PROFILES / "releases.yaml").read_text())["releases"]
    shipped_sizes = yaml.safe_load((SHIPPED_PROFILES / "sizes.yaml").read_text())
    cloned = []
    for index in range(releases):
        release = copy.deepcopy(shipped_releases[index % len(shipped_releases)])
        number = releases - 1 - index  # newest first
        release["release"] = f"{30 + number // 12}.{number % 12 + 1:02d}"
        release["tag"] = f"{release['release']}-py3"
        release["default"] = index == 0
        release.pop("prepull", None)
        cloned.append(release)
    chosen = [dict(s, hidden=False) for s in shipped_sizes["sizes"][:sizes]]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "releases.yaml").write_text(yaml.safe_dump({"releases": cloned}))
    (directory / "sizes.yaml").write_text(yaml.safe_dump({**shipped_sizes, "sizes": chosen}))
    return directory


def static_profile_list(catalog: Catalog, registry: str) -> list[dict[str, Any]]:
    """The plain-KubeSpawner equivalent of ``catalog``: a profile per release, a size option."""
    return [
        {
            "display_name": release.title,
            "slug": release.release.replace(".", "-"),
            "description": f"PyTorch {release.pytorch} · CUDA {release.cuda}",
            "default": release.default,
            "kubespawner_override": {"image": release.image_ref(registry)},
            "profile_options": {
                "size": {
                    "display_name": "GPUs",
                    "choices": {
                        size.name: {
                            "display_name": size.label,
                            "default": size.default,
                            "kubespawner_override": {
                                "extra_resource_limits": {GPU_RESOURCE: str(size.gpus)},
                                "cpu_limit": size.cpu,
                                "cpu_guarantee": size.cpu,
                                "mem_limit": size.memory,
                                "mem_guarantee": size.memory,
                            },
                        }
                        for size in catalog.sizes
                    },
                }
            },
        }
        for release in catalog.releases
    ]
