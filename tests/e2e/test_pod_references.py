"""The spawner's pods on a kubelet that fails them as a real one would.

The emulator's kubelet refuses a pod that names a missing object or an image the
simulated registry lacks (see test_pull_failure.py), so a spawn that works proves
its pod is complete.
"""

from __future__ import annotations

from typing import Any

import pytest

from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.emulator.image_store import has_image

from .conftest import Cluster, HubApi

pytestmark = pytest.mark.e2e


def _store_items(emulator: ThreadedEmulator, plural: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        return list(emulator.emulator.store.items(plural))

    return emulator.call(read())


def _exists(emulator: ThreadedEmulator, plural: str, namespace: str, name: str) -> bool:
    async def find() -> bool:
        return emulator.emulator.store.find(plural, namespace, name) is not None

    return emulator.call(find())


def references(pod: dict[str, Any]) -> set[tuple[str, str]]:
    """``(plural, name)`` of every object the pod names."""
    spec = pod["spec"]
    named = {("serviceaccounts", spec.get("serviceAccountName") or "default")}
    for volume in spec.get("volumes") or []:
        if claim := volume.get("persistentVolumeClaim"):
            named.add(("persistentvolumeclaims", claim["claimName"]))
        if secret := volume.get("secret"):
            named.add(("secrets", secret["secretName"]))
        if config_map := volume.get("configMap"):
            named.add(("configmaps", config_map["name"]))
    for container in spec["containers"] + spec.get("initContainers", []):
        for var in container.get("env") or []:
            source = var.get("valueFrom") or {}
            if ref := source.get("secretKeyRef"):
                named.add(("secrets", ref["name"]))
            if ref := source.get("configMapKeyRef"):
                named.add(("configmaps", ref["name"]))
        for source in container.get("envFrom") or []:
            if ref := source.get("secretRef"):
                named.add(("secrets", ref["name"]))
            if ref := source.get("configMapRef"):
                named.add(("configmaps", ref["name"]))
    return named


def test_a_spawned_pod_references_only_objects_that_exist(
    api: HubApi, k8s: Cluster, emulator: ThreadedEmulator
) -> None:
    assert api.start("alice", release="21.11", gpus=2).status_code in (201, 202)
    api.wait_ready("alice")
    pod = k8s.pod("jupyter-alice")
    assert pod is not None
    namespace = pod["metadata"]["namespace"]
    named = references(pod)
    assert ("persistentvolumeclaims", "claim-alice") in named  # the home volume is among them
    missing = [ref for ref in named if not _exists(emulator, ref[0], namespace, ref[1])]
    assert missing == []
    (node,) = [
        n
        for n in _store_items(emulator, "nodes")
        if n["metadata"]["name"] == (pod["spec"]["nodeName"])
    ]
    for container in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        assert has_image(node, container["image"]), container["image"]
    warnings = [
        (e["reason"], e["message"])
        for e in _store_items(emulator, "events")
        if e["involvedObject"]["name"] == "jupyter-alice" and e["type"] == "Warning"
    ]
    assert warnings == []
