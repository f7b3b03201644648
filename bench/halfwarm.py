"""Time to a usable server on a half-warm cluster: TWCC's image placement against plain
KubeSpawner's, both on the emulator's kube-scheduler scoring.

The cluster has 8 GPU nodes and 40 CPU nodes; half the GPU nodes hold PyTorch 21.11's
image (its catalog ``image_size``) and every GPU node the server-env image. The warm
nodes are the busy ones, as where people have worked: other servers hold 6 of their 8
GPUs and 27 of their 36 cores, so kube-scheduler's spreading favours the idle cold
nodes, while ImageLocality (weight 1, its 6.4 GB scaled by the 4 of 48 nodes holding
it) counts for little. Nodes pull at ``rate`` bytes/s (100 MB/s in a full run). Before
each spawn the nodes' images are reset to that state, so every round starts half-warm: a
pod placed on a cold node waits for the whole pull. Rounds alternate between the
variants, as in :mod:`.usable`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import jupyterhub
from kubernetes_asyncio import client

from twcc_spawner.catalog import load_catalog
from twcc_spawner.simulated.emulator import Emulator
from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.emulator.twcc_images import catalog_registry

from .hub import VARIANTS
from .stats import summary
from .usable import RELEASE, Hub, variant_hub
from .workload import SHIPPED_PROFILES

GPU_NODES, CPU_NODES = 8, 40
START_TIMEOUT = 300
#: What other servers hold on each warm node.
BUSY = {"nvidia.com/gpu": "6", "cpu": "27", "memory": "576Gi"}
SERVER_ENV = f"twcc-spawner/server-env:{jupyterhub.__version__}"
GPU = {
    "product": "Tesla-V100-SXM2-32GB",
    "count": 8,
    "memory": 32768,
    "family": "volta",
    "compute": "7.0",
    "driver": "510.47.03",
    "cuda": "11.6",
}


def image() -> str:
    """PyTorch 21.11's image reference."""
    return load_catalog(SHIPPED_PROFILES).release(RELEASE).image_ref("nvcr.io/nvidia/pytorch")


def cluster(rate: float) -> dict[str, Any]:
    """Half the GPU nodes warm for 21.11, all with the server-env image; CPU nodes beside."""
    taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    gpu_nodes = [
        {
            "name": f"gn{i}",
            "gpu": GPU,
            "taints": [taint],
            "images": [SERVER_ENV, image()] if i < GPU_NODES // 2 else [SERVER_ENV],
        }
        for i in range(GPU_NODES)
    ]
    cpu_nodes = [{"name": f"cn{i}"} for i in range(CPU_NODES)]
    return {
        "defaults": {"image_pull_rate": rate, "cpu": "36", "memory": "768Gi"},
        "nodes": gpu_nodes + cpu_nodes,
    }


def node_images(emulator: ThreadedEmulator) -> dict[str, list[dict[str, Any]]]:
    """Every node's ``status.images``, read through the API."""

    async def read() -> dict[str, list[dict[str, Any]]]:
        async with client.ApiClient(client.Configuration(host=emulator.url)) as api_client:
            nodes = await client.CoreV1Api(api_client).list_node(_preload_content=False)
            items = (await nodes.json())["items"]
        return {n["metadata"]["name"]: n["status"].get("images", []) for n in items}

    return emulator.call(read())


def occupy_warm_nodes(emulator: ThreadedEmulator) -> None:
    """Other researchers' servers on the warm nodes (bound directly, running ``sleep``)."""

    async def create() -> None:
        async with client.ApiClient(client.Configuration(host=emulator.url)) as api_client:
            api = client.CoreV1Api(api_client)
            for i in range(GPU_NODES // 2):
                container = {
                    "name": "notebook",
                    "image": image(),
                    "command": ["sleep", "86400"],
                    "resources": {"requests": BUSY, "limits": BUSY},
                }
                pod = {
                    "metadata": {"name": f"other-{i}", "labels": {"app": "other-servers"}},
                    "spec": {
                        "nodeName": f"gn{i}",
                        "containers": [container],
                        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                    },
                }
                await api.create_namespaced_pod("default", pod)

    emulator.call(create())


def cold_starts(emulator: ThreadedEmulator) -> int:
    """How many times a node has pulled 21.11's image (the kubelet's Pulled events)."""
    pulled = f'Successfully pulled image "{image()}"'

    async def count() -> int:
        async with client.ApiClient(client.Configuration(host=emulator.url)) as api_client:
            events = await client.CoreV1Api(api_client).list_event_for_all_namespaces()
        return sum(1 for e in events.items if (e.message or "").startswith(pulled))

    return emulator.call(count())


def reset_images(emulator: ThreadedEmulator, initial: dict[str, list[dict[str, Any]]]) -> None:
    """Put every node's ``status.images`` back to the half-warm start, through the API."""

    async def patch() -> None:
        async with client.ApiClient(client.Configuration(host=emulator.url)) as api_client:
            api = client.CoreV1Api(api_client)
            for name, images in initial.items():
                await api.patch_node_status(name, {"status": {"images": images}})

    emulator.call(patch())


@contextmanager
def running_hub(
    variant: str, workdir: Path, rate: float
) -> Iterator[tuple[Hub, ThreadedEmulator, dict[str, Any]]]:
    """The half-warm emulator, the proxy and the hub of ``variant``; the nodes' images."""
    with ExitStack() as stack:
        emulator = stack.enter_context(
            Emulator.in_thread(
                cluster=cluster(rate),
                workdir=workdir / "emulator",
                registry=catalog_registry(SHIPPED_PROFILES),
            )
        )
        initial = node_images(emulator)
        occupy_warm_nodes(emulator)
        # a cold start pulls several GB: JupyterHub must wait for it (z2jh's 300 s)
        hub = variant_hub(stack, emulator, variant, workdir, start_timeout=START_TIMEOUT)
        yield hub, emulator, initial


def half_warm(rounds: int, workdir: Path, rate: float) -> dict[str, Any]:
    """Median and p90 seconds to a usable server per variant on the half-warm cluster,
    and how many of the spawns had to pull the image."""
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with ExitStack() as stack:
        hubs = {v: stack.enter_context(running_hub(v, workdir / v, rate)) for v in VARIANTS}
        for i in range(rounds):
            for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                hub, emulator, initial = hubs[variant]
                reset_images(emulator, initial)
                samples[variant].append(hub.time_to_usable(f"{variant}-{i}", START_TIMEOUT))
        pulls = {v: cold_starts(emulator) for v, (_, emulator, _) in hubs.items()}
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "rate_bytes_per_s": rate,
        **{v: {"usable_s": summary(samples[v]), "cold_starts": pulls[v]} for v in VARIANTS},
    }
