"""The benchmarked hub side: TWCCSpawner and the equivalent plain KubeSpawner.

Both run in this process's event loop against :mod:`.apiserver` in another
process. ``KUBECONFIG`` must point at a loadable kubeconfig before this module
is imported (:mod:`bench.__main__` does that); the API host is set per spawner.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import aiohttp
from kubespawner import KubeSpawner

from twcc_spawner import TWCCSpawner
from twcc_spawner.catalog import load_catalog
from twcc_spawner.preflight.spawner_mixin import GpuPreflight

from .workload import GPU_RESOURCE, static_profile_list

VARIANTS = ("twcc", "kube")
#: The size every benchmarked spawn asks for.
SIZE = "c.xsuper"
SIZE_GPUS = 2
_COLLECTIONS = ("/pods", "/events", "/nodes")


class Logged(NamedTuple):
    """A request the API server logged."""

    at: float
    method: str
    path: str

    @property
    def is_list_or_watch(self) -> bool:
        """A list or watch call (the reflectors' shared streams), not a spawn's own call."""
        path = self.path.split("?")[0]
        return self.method == "GET" and ("watch=" in self.path or path.endswith(_COLLECTIONS))


class ApiServerProcess:
    """A :mod:`.apiserver` child process and a client for its request log."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.http = aiohttp.ClientSession()

    async def requests(self, clear: bool = False) -> list[Logged]:
        """The request log (emptied afterwards with ``clear``)."""
        method = "DELETE" if clear else "GET"
        async with self.http.request(method, f"{self.url}/bench/requests") as response:
            return [Logged(*r) for r in await response.json()]

    async def delete(self, path: str) -> None:
        """Delete an object (``namespaces/default/pods/x``); a missing one is fine."""
        async with self.http.delete(f"{self.url}/api/v1/{path}?gracePeriodSeconds=0"):
            pass


@contextlib.asynccontextmanager
async def api_server(
    nodes: int, pods_per_node: int, free_gpus: int | None = None, per_node: int = 4
) -> AsyncIterator[ApiServerProcess]:
    """Start :mod:`.apiserver` with the cluster and yield it once it serves."""
    args = [str(nodes), str(pods_per_node)] + ([str(free_gpus)] if free_gpus is not None else [])
    args.append(f"--per-node={per_node}")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.apiserver",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout is not None and process.stdin is not None
    url = (await process.stdout.readline()).decode().strip()
    if not url:
        raise RuntimeError("bench.apiserver exited before serving")
    server = ApiServerProcess(process, url)
    try:
        yield server
    finally:
        await server.http.close()
        process.stdin.close()
        await process.wait()


def user(name: str) -> Any:
    """A stand-in for JupyterHub's User with what the spawners read."""
    return SimpleNamespace(name=name, id=1, url=f"/user/{name}/", groups=[])


_COMMON: dict[str, Any] = {
    "namespace": "default",
    "start_timeout": 300,
    "events_enabled": True,
}


def make_spawner(variant: str, url: str, profiles: Path, name: str, **config: Any) -> Any:
    """A spawner of ``variant`` on the API server ``url`` with the catalog in ``profiles``.

    ``kube`` is plain KubeSpawner with :func:`~.workload.static_profile_list` of
    the same catalog and the same node selector, tolerations and home volume claim.
    Its ``user_options`` pick the catalog's first release and :data:`SIZE`.
    """
    catalog = load_catalog(profiles)
    release = catalog.releases[0]
    if variant == "twcc":
        spawner = TWCCSpawner(
            _mock=True,
            user=user(name),
            k8s_api_host=url,
            profiles_dir=str(profiles),
            **{**_COMMON, **config},
        )
        spawner.user_options = {"release": release.release, "size": SIZE}
        return spawner
    spawner = KubeSpawner(
        _mock=True,
        user=user(name),
        k8s_api_host=url,
        profile_list=static_profile_list(catalog, "nvcr.io/nvidia/pytorch"),
        node_selector={"nvidia.com/gpu.present": "true"},
        tolerations=[{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        storage_pvc_ensure=True,
        storage_capacity="100Gi",
        **_COMMON,
    )
    spawner.user_options = {"profile": release.release.replace(".", "-"), "size": SIZE}
    return spawner


async def reset() -> None:
    """Stop the class-level caches (the preflight's watch, KubeSpawner's reflectors)."""
    await GpuPreflight.stop_cluster_watch()
    for reflector in list(KubeSpawner.reflectors.values()):
        await reflector.stop()
    KubeSpawner.reflectors.clear()
    TWCCSpawner._catalog_sources.clear()


@dataclass
class Spawn:
    """One spawn up to its pod's create request (then cancelled)."""

    spawner: Any
    started: float = 0.0
    started_cpu: float = 0.0
    created: asyncio.Future[float] | None = None
    future: asyncio.Future[Any] | None = None

    def start(self) -> None:
        """Call ``start()``; :attr:`created` resolves, when the pod was created, to the
        process CPU time used since (this spawn's and whatever else ran meanwhile)."""
        loop = asyncio.get_running_loop()
        created: asyncio.Future[float] = loop.create_future()
        self.created = created
        self.spawner.after_pod_created_hook = lambda *_: created.set_result(
            time.process_time() - self.started_cpu
        )
        self.started, self.started_cpu = time.monotonic(), time.process_time()
        self.future = self.spawner.start()

    async def decided(self) -> BaseException | None:
        """Wait until the pod is created (None) or the spawn ends without one (its error)."""
        assert self.created is not None and self.future is not None
        await asyncio.wait({self.created, self.future}, return_when=asyncio.FIRST_COMPLETED)
        return None if self.created.done() else self.future.exception()

    async def end(self, server: ApiServerProcess) -> None:
        """Cancel the spawn and delete what it created."""
        assert self.future is not None
        self.future.cancel()
        await asyncio.gather(self.future, return_exceptions=True)
        spawner = self.spawner
        await server.delete(f"namespaces/{spawner.namespace}/pods/{spawner.pod_name}")
        await server.delete(
            f"namespaces/{spawner.namespace}/persistentvolumeclaims/{spawner.pvc_name}"
        )
