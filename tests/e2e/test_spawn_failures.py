"""Spawns that cannot work, on a real hub: each ends with its reason, and nothing is left.

- refused by the preflight before any Kubernetes write;
- a pod the scheduler cannot place (the preflight could not see why) ended by the
  watchdog with the scheduler's message;
- an image that cannot be pulled, ended by the watchdog.

The in-container checks are in test_container_checks.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from twcc_spawner.simulated.emulator import FaultRule
from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.emulator.events import record_event
from twcc_spawner.simulated.emulator.store import Change

from .conftest import GPU, Cluster, HubApi, eventually, v100_cluster

pytestmark = pytest.mark.e2e

POD = "jupyter-alice"
IMAGE_21_11 = "nvcr.io/nvidia/pytorch:21.11-py3"
TWO_GPU_NODE = v100_cluster(gpus=2)
#: The hub may read only its own namespace's pods (a Role, not a ClusterRole).
NAMESPACE_ONLY = FaultRule(path=r"^/api/v1/pods", status=403)


def progress_events(api: HubApi) -> list[dict[str, Any]]:
    """Every event of alice's spawn page's progress stream (the stream ends with the spawn)."""
    response = api.request("GET", "/users/alice/server/progress", stream=True, timeout=120)
    lines = [line for line in response.iter_lines(decode_unicode=True) if line]
    return [json.loads(line[len("data:") :]) for line in lines if line.startswith("data:")]


def failed_spawn(api: HubApi, k8s: Cluster, **options: Any) -> str:
    """Start alice's server, which must fail; its message, once the pod is deleted.

    The POST answers the failure itself if the spawn ends within the hub's
    ``slow_spawn_timeout``, else 202 and the failure comes on the event stream.
    """
    response = api.start("alice", **options)
    if response.status_code == 202:
        events = progress_events(api)
        assert events and events[-1].get("failed"), events
        message = events[-1]["message"]
    else:
        assert response.status_code >= 400, response.text
        message = response.json()["message"]
        events = progress_events(api)
        assert events[-1]["failed"] and message in events[-1]["message"], events
    eventually(lambda: k8s.pod(POD) is None, 60, "the failed pod deleted")
    eventually(lambda: api.servers("alice") == {}, 30, "the server gone from the hub")
    return message


@pytest.mark.parametrize("cluster", [v100_cluster(gpus=1)], indirect=True)
def test_a_refusal_makes_no_kubernetes_write(api: HubApi, k8s: Cluster) -> None:
    before = k8s.writes()  # the hub's start-up (none today)
    response = api.start("alice", release="21.11", gpus=2)
    # no node could ever take 2 GPUs: refused for good, not queued
    assert response.status_code == 409, response.text
    message = response.json()["message"]
    assert message == (
        "No suitable node is large enough for size c.xsuper (2 GPUs, 8 CPU cores, 180G "
        "memory) even when empty; the largest has 1 GPU. Pick 1 GPU."
    )
    events = progress_events(api)
    assert events[-1]["failed"] and message in events[-1]["message"]
    assert k8s.writes() == before  # no PVC, no pod, no event: nothing
    assert any(c.startswith("GET /api/v1/nodes") for c in k8s.calls())  # the hub's reads are logged
    assert k8s.created == [] and api.servers("alice") == {}


def other_tenant_holds(emulator: ThreadedEmulator, node: str, gpus: int) -> None:
    """A pod of another namespace, bound to ``node``, holding ``gpus`` GPUs."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "training", "namespace": "kube-system"},
        "spec": {
            "nodeName": node,
            "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["sleep", "3600"],
                    "resources": {"limits": {GPU: str(gpus)}, "requests": {GPU: str(gpus)}},
                }
            ],
        },
    }

    response = requests.post(
        f"{emulator.url}/api/v1/namespaces/kube-system/pods", json=pod, timeout=30
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("cluster", [TWO_GPU_NODE], indirect=True)
def test_a_pod_the_scheduler_cannot_place_ends_with_the_schedulers_reason(
    emulator: ThreadedEmulator, k8s: Cluster, request: pytest.FixtureRequest
) -> None:
    # The hub sees only its own namespace, so its capacity check is skipped; another
    # namespace's pod holds both GPUs, and the scheduler says so.
    emulator.emulator.faults.add(NAMESPACE_ONLY)
    other_tenant_holds(emulator, "gn1001", 2)
    api = request.getfixturevalue("api")  # the hub starts with the fault in place

    message = failed_spawn(api, k8s, release="21.11", gpus=1)
    reason = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert message == f"No GPU node can take this server now: {reason}"
    assert POD in k8s.created  # the pod was made, then given up
    assert ("FailedScheduling", reason) in k8s.events(POD)
    assert NAMESPACE_ONLY.hits > 0


def fail_image_pulls(emulator: ThreadedEmulator, image: str) -> None:
    """Make ``image`` unpullable.

    Until the emulator's kubelet simulates a registry (then: name an image it does
    not know), the test takes the kubelet's part for pods using ``image``: it stops
    the emulator's kubelet and reports their init container stuck in
    ImagePullBackOff, with the kubelet's event, as a node that cannot pull would.
    It also ends those pods when they are deleted.
    """
    inner = emulator.emulator
    store = inner.store

    def on_change(change: Change) -> None:
        if change.plural == "pods":
            emulator.loop.call_soon(act, change.object["metadata"]["name"])

    async def take_over() -> None:
        (kubelet,) = [
            t for t in inner._tasks if t.get_coro().cr_frame.f_locals.get("self") is inner.kubelet
        ]
        kubelet.cancel()
        store.subscribe(on_change)

    def act(name: str) -> None:
        pod = store.find("pods", "default", name)
        if pod is None or not pod["spec"].get("nodeName"):
            return
        if pod["metadata"].get("deletionTimestamp"):
            store.delete("pods", "default", name)
            return
        init = pod["spec"].get("initContainers", [])
        if pod["status"].get("initContainerStatuses") or not any(c["image"] == image for c in init):
            return
        message = f'Back-off pulling image "{image}"'
        pod["status"]["initContainerStatuses"] = [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}},
            }
            for c in init
        ]
        store.update("pods", pod)
        record_event(store, pod, "Normal", "BackOff", message, "kubelet")

    emulator.call(take_over())


UNPULLABLE = "registry.invalid/twcc/server-env:1"


@pytest.mark.parametrize("cluster", [TWO_GPU_NODE], indirect=True)
@pytest.mark.spawner(server_env_image=UNPULLABLE)
def test_an_image_that_cannot_be_pulled_ends_the_spawn(
    emulator: ThreadedEmulator, api: HubApi, k8s: Cluster
) -> None:
    fail_image_pulls(emulator, UNPULLABLE)
    message = failed_spawn(api, k8s, release="21.11", gpus=1)
    pulling = f'Back-off pulling image "{UNPULLABLE}"'
    assert message == f"The init container 'twcc-server-env' is stuck: ImagePullBackOff. {pulling}"
    assert ("BackOff", pulling) in k8s.events(POD)
