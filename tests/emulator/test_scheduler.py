"""Scheduler stand-in: binding, FailedScheduling wording, taints, selectors, affinity."""

from __future__ import annotations

from kubernetes_asyncio.client import CoreV1Api

from twcc_spawner.simulated.emulator import Emulator

from .conftest import pod_manifest


def _pod(emu: Emulator, name: str) -> dict:
    return emu.store.find("pods", "default", name) or {}


async def _events(api: CoreV1Api, name: str, reason: str) -> list[str]:
    selector = f"involvedObject.name={name},involvedObject.kind=Pod,reason={reason}"
    events = await api.list_namespaced_event("default", field_selector=selector)
    return [e.message for e in events.items]


async def test_binds_gpu_pod(emu: Emulator, api: CoreV1Api) -> None:
    await api.create_namespaced_pod("default", pod_manifest("g", ["sleep", "30"], gpus=2))
    pod = await emu.store.wait_for(
        lambda: _pod(emu, "g")["spec"].get("nodeName") and _pod(emu, "g")
    )
    node = pod["spec"]["nodeName"]
    scheduled = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled[0]["status"] == "True"
    assert await _events(api, "g", "Scheduled") == [f"Successfully assigned default/g to {node}"]


async def test_insufficient_gpus(emu: Emulator, api: CoreV1Api) -> None:
    await api.create_namespaced_pod("default", pod_manifest("big", gpus=3))
    message = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    await emu.store.wait_for(lambda: "Unschedulable" in str(_pod(emu, "big")["status"]))
    condition = _pod(emu, "big")["status"]["conditions"][-1]
    assert (condition["reason"], condition["message"]) == ("Unschedulable", message)
    assert await _events(api, "big", "FailedScheduling") == [message]


async def test_untolerated_taint_and_selector(emu: Emulator, api: CoreV1Api) -> None:
    await api.create_namespaced_pod("default", pod_manifest("plain"))
    selected = pod_manifest("picky", gpus=1, nodeSelector={"nvidia.com/gpu.product": "A100"})
    await api.create_namespaced_pod("default", selected)
    await emu.store.wait_for(lambda: "Unschedulable" in str(_pod(emu, "picky")["status"]))
    assert _pod(emu, "plain")["status"]["conditions"][-1]["message"] == (
        "0/2 nodes are available: 2 node(s) had untolerated taint {nvidia.com/gpu: present}."
    )
    assert _pod(emu, "picky")["status"]["conditions"][-1]["message"] == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    )


async def test_affinity_mixed_reasons_and_retry_on_delete(emu: Emulator, api: CoreV1Api) -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["gn1"]},
                            {"key": "nvidia.com/gpu.count", "operator": "Gt", "values": ["1"]},
                        ]
                    }
                ]
            }
        }
    }
    await api.create_namespaced_pod("default", pod_manifest("first", gpus=2, affinity=affinity))
    await emu.store.wait_for(lambda: _pod(emu, "first")["spec"].get("nodeName") == "gn1")
    await api.create_namespaced_pod("default", pod_manifest("second", gpus=1, affinity=affinity))
    expected = (
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
        "1 node(s) didn't match Pod's node affinity/selector."
    )
    await emu.store.wait_for(lambda: expected in str(_pod(emu, "second")["status"]))
    await api.delete_namespaced_pod("first", "default", grace_period_seconds=0)
    await emu.store.wait_for(lambda: _pod(emu, "second")["spec"].get("nodeName") == "gn1")


async def test_unschedulable_node_and_node_changes(emu: Emulator, api: CoreV1Api) -> None:
    for node in ("gn1", "gn2"):
        await api.patch_node(node, {"spec": {"unschedulable": True}})
    await api.create_namespaced_pod("default", pod_manifest("cordoned", gpus=1))
    await emu.store.wait_for(
        lambda: "2 node(s) were unschedulable." in str(_pod(emu, "cordoned")["status"])
    )
    await api.patch_node("gn2", {"spec": {"unschedulable": None}})
    await emu.store.wait_for(lambda: _pod(emu, "cordoned")["spec"].get("nodeName") == "gn2")
