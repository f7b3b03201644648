"""Time to a usable server: a real hub per spawner kind, on the emulator.

Each variant gets the emulator's TWCC V100 cluster, configurable-http-proxy and
JupyterHub (as ``make demo``). A round asks the REST API for PyTorch 21.11 with
2 GPUs and times until ``/user/<name>/api/status`` answers through the proxy,
then stops the server. Rounds alternate between the variants.

- ``twcc``: TWCCSpawner as shipped: preflight, the server-env init container,
  the start script's checks inside the container, a readiness probe.
- ``kube``: plain KubeSpawner with the equivalent static profile list, the same
  node selector, tolerations and home volume. Its image is taken to contain
  ``jupyterhub-singleuser`` (a derived image; the NGC images do not have it),
  so the simulated start runs the same server from the same environment,
  without bootstrap or checks.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests

from twcc_spawner.catalog import load_catalog
from twcc_spawner.simulated.emulator import Emulator
from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.hub_settings import HubSettings
from twcc_spawner.simulated.local_hub import LocalHub

from .cycle import spawn_and_stop
from .hub import VARIANTS
from .stats import summary
from .workload import FAST_PULLS, GPU_RESOURCE, SHIPPED_PROFILES, static_profile_list

RELEASE, GPUS = "21.11", 2


def kube_settings(profiles: Path) -> dict[str, Any]:
    """Plain KubeSpawner's settings equivalent to TWCCSpawner's defaults."""
    catalog = load_catalog(profiles)
    singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
    return {
        "profile_list": static_profile_list(catalog, "nvcr.io/nvidia/pytorch"),
        "cmd": [str(singleuser)],
        "node_selector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        "storage_pvc_ensure": True,
        "storage_capacity": "100Gi",
        "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}],
        "volume_mounts": [{"name": "home", "mountPath": "/home/{username}"}],
    }


def user_options(variant: str) -> dict[str, Any]:
    """The REST ``user_options`` for PyTorch 21.11 with 2 GPUs."""
    if variant == "twcc":
        return {"release": RELEASE, "gpus": GPUS}
    return {"profile": RELEASE.replace(".", "-"), "size": "c.xsuper"}


class Hub:
    """A running hub of one variant and an admin session on it."""

    def __init__(self, variant: str, settings: HubSettings) -> None:
        self.variant = variant
        self.settings = settings
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {settings.admin_token}"

    def time_to_usable(self, name: str, timeout: float = 120.0) -> float:
        """Seconds from the spawn request to the server answering through the proxy."""
        self.session.post(f"{self.settings.url}/hub/api/users/{name}", timeout=30)
        options = user_options(self.variant)
        return spawn_and_stop(
            self.session, self.settings.url, name, options, through_proxy=True, timeout=timeout
        )


def variant_hub(
    stack: ExitStack, emulator: ThreadedEmulator, variant: str, workdir: Path, **spawner: Any
) -> Hub:
    """The proxy and the hub of ``variant`` on ``emulator`` (with ``spawner`` settings on
    top of the variant's), stopped when ``stack`` closes."""
    if variant == "kube":
        options: dict[str, Any] = {
            "spawner_class": "kubespawner.KubeSpawner",
            "spawner": {**kube_settings(SHIPPED_PROFILES), **spawner},
        }
    else:
        options = {"spawner": spawner} if spawner else {}
    settings = HubSettings.throwaway(workdir / "hub", SHIPPED_PROFILES, **options)
    emulator.write_kubeconfig(settings.kubeconfig)
    hub = LocalHub(settings, log_dir=settings.state_dir)
    hub.start()
    stack.callback(hub.stop)
    return Hub(variant, settings)


@contextmanager
def running_hub(variant: str, workdir: Path) -> Iterator[Hub]:
    """The emulator, the proxy and the hub of ``variant``, stopped on exit."""
    with ExitStack() as stack:
        emulator = stack.enter_context(
            Emulator.in_thread(workdir=workdir / "emulator", image_pull_rate=FAST_PULLS)
        )
        yield variant_hub(stack, emulator, variant, workdir)


def time_to_usable(rounds: int, workdir: Path) -> dict[str, Any]:
    """Median seconds to a usable server for each variant (one warm-up spawn each first)."""
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with ExitStack() as stack:
        hubs = {v: stack.enter_context(running_hub(v, workdir / v)) for v in VARIANTS}
        for variant, hub in hubs.items():
            hub.time_to_usable(f"warm-{variant}")
        for i in range(rounds):
            for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                samples[variant].append(hubs[variant].time_to_usable(f"{variant}-{i}"))
    shutil.rmtree(workdir, ignore_errors=True)
    return {v: {"usable_s": summary(samples[v])} for v in VARIANTS}
