"""A pod referencing objects that do not exist fails as on a real cluster, seen by kubectl."""

from __future__ import annotations

import json
from typing import Any

import pytest

from twcc_spawner.simulated.emulator import Emulator

from .conftest import Kubectl, pod_manifest


def _pod(emu: Emulator, name: str) -> dict[str, Any]:
    return emu.store.find("pods", "default", name) or {}


def _state(emu: Emulator, name: str) -> dict[str, Any]:
    statuses = _pod(emu, name).get("status", {}).get("containerStatuses") or [{}]
    return statuses[0].get("state", {})


async def events(kubectl: Kubectl, pod: str) -> list[tuple[str, str, str]]:
    """``(type, reason, message)`` of the pod's events, oldest first, as kubectl lists them."""
    listing = json.loads((await kubectl("get", "events", "-o", "json")).stdout)
    ordered = sorted(listing["items"], key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [
        (e["type"], e["reason"], e["message"])
        for e in ordered
        if e["involvedObject"]["name"] == pod
    ]


async def create(kubectl: Kubectl, obj: dict[str, Any], *args: str) -> None:
    """``kubectl create -f -`` (the emulator serves no OpenAPI to validate against)."""
    await kubectl(*args, "create", "--validate=false", "-f", "-", stdin=json.dumps(obj))


def data_object(kind: str, name: str, **data: str) -> dict[str, Any]:
    """A Secret (``stringData``) or ConfigMap holding ``data``."""
    field = "stringData" if kind == "secret" else "data"
    title = "Secret" if kind == "secret" else "ConfigMap"
    return {"apiVersion": "v1", "kind": title, "metadata": {"name": name}, field: data}


async def waiting_reason(kubectl: Kubectl, pod: str) -> str:
    """Why the pod's container waits, as kubectl reads it (the STATUS ``kubectl get`` shows)."""
    path = "jsonpath={.status.containerStatuses[0].state.waiting.reason}"
    return (await kubectl("get", "pod", pod, "-o", path)).stdout


async def test_a_missing_service_account_is_refused_at_admission(kubectl: Kubectl) -> None:
    manifest = pod_manifest("p", serviceAccountName="robot")
    result = await kubectl(
        "create", "--validate=false", "-f", "-", stdin=json.dumps(manifest), check=False
    )
    assert result.returncode == 1
    assert (
        'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: '
        'error looking up service account default/robot: serviceaccount "robot" not found'
    ) in result.stderr
    assert (await kubectl("get", "serviceaccounts", "-o", "name")).stdout.split() == [
        "serviceaccount/default"
    ]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab"}}
    await create(kubectl, namespace)  # a new namespace gets its default account at once
    await create(kubectl, pod_manifest("p"), "-n", "lab")


async def test_a_missing_claim_keeps_the_pod_pending_until_it_exists(
    emu: Emulator, kubectl: Kubectl
) -> None:
    manifest = pod_manifest("p", gpus=1)
    manifest["spec"]["volumes"] = [{"name": "home", "persistentVolumeClaim": {"claimName": "h"}}]
    manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "home", "mountPath": "/home"}]
    await create(kubectl, manifest)
    expected = (
        '0/2 nodes are available: persistentvolumeclaim "h" not found. preemption: 0/2 nodes '
        "are available: 2 Preemption is not helpful for scheduling."
    )
    await emu.store.wait_for(lambda: expected in str(_pod(emu, "p")))
    condition = await kubectl(
        "get", "pod", "p", "-o", "jsonpath={.status.conditions[0].reason}: {.spec.nodeName}"
    )
    assert condition.stdout == "Unschedulable: "
    assert ("Warning", "FailedScheduling", expected) in await events(kubectl, "p")
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "h"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await create(kubectl, claim)
    await emu.store.wait_for(lambda: "running" in _state(emu, "p"))


@pytest.mark.parametrize("kind", ["secret", "configmap"])
async def test_a_missing_secret_or_config_map_volume_fails_to_mount(
    emu: Emulator, kubectl: Kubectl, kind: str
) -> None:
    source = (
        {"secret": {"secretName": "creds"}}
        if kind == "secret"
        else {"configMap": {"name": "creds"}}
    )
    command = ["sh", "-c", 'cat "$0/token" > "$1"', "/etc/creds", "/dev/termination-log"]
    manifest = pod_manifest("p", command, gpus=1)
    manifest["spec"]["volumes"] = [{"name": "creds", **source}]
    manifest["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "creds", "mountPath": "/etc/creds"}
    ]
    await create(kubectl, manifest)
    message = f'MountVolume.SetUp failed for volume "creds" : {kind} "creds" not found'
    await emu.store.wait_for(
        lambda: any(e["message"] == message for e in emu.store.items("events"))
    )
    assert ("Warning", "FailedMount", message) in await events(kubectl, "p")
    assert await waiting_reason(kubectl, "p") == "ContainerCreating"
    assert _pod(emu, "p")["status"]["phase"] == "Pending"

    await create(kubectl, data_object(kind, "creds", token="s3cret"))
    await emu.store.wait_for(lambda: "terminated" in _state(emu, "p"))
    assert _state(emu, "p")["terminated"]["message"] == "s3cret"


@pytest.mark.parametrize(
    ("ref", "made", "expected"),
    [
        (
            {"secretKeyRef": {"name": "db", "key": "password"}},
            ("secret", "db"),
            'secret "db" not found',
        ),
        (
            {"configMapKeyRef": {"name": "db", "key": "password"}},
            ("configmap", "db"),
            'configmap "db" not found',
        ),
        (
            {"secretKeyRef": {"name": "default-db", "key": "password"}},
            ("secret", "default-db"),
            "couldn't find key password in Secret default/default-db",
        ),
    ],
    ids=["secret", "configmap", "key"],
)
async def test_a_missing_key_reference_is_a_container_config_error(
    emu: Emulator, kubectl: Kubectl, ref: dict, made: tuple[str, str], expected: str
) -> None:
    if "key" in expected:  # the Secret exists, without the key
        await create(kubectl, data_object("secret", "default-db", user="u"))
    command = ["sh", "-c", 'printf %s "$PASSWORD" > "$0"', "/dev/termination-log"]
    manifest = pod_manifest("p", command, gpus=1)
    manifest["spec"]["containers"][0]["env"] = [{"name": "PASSWORD", "valueFrom": ref}]
    await create(kubectl, manifest)
    await emu.store.wait_for(
        lambda: "waiting" in _state(emu, "p") and expected in str(_state(emu, "p"))
    )
    assert _state(emu, "p")["waiting"] == {
        "reason": "CreateContainerConfigError",
        "message": expected,
    }
    assert await waiting_reason(kubectl, "p") == "CreateContainerConfigError"
    assert ("Warning", "Failed", f"Error: {expected}") in await events(kubectl, "p")

    if "key" in expected:
        await kubectl("delete", "secret", "default-db")
    await create(kubectl, data_object(*made, password="pw"))
    await emu.store.wait_for(lambda: "terminated" in _state(emu, "p"))
    assert _state(emu, "p")["terminated"]["message"] == "pw"


async def test_optional_references_may_be_missing(emu: Emulator, kubectl: Kubectl) -> None:
    manifest = pod_manifest("p", ["true"], gpus=1)
    container = manifest["spec"]["containers"][0]
    container["env"] = [
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k", "optional": True}}}
    ]
    container["volumeMounts"] = [{"name": "v", "mountPath": "/v"}]
    manifest["spec"]["volumes"] = [{"name": "v", "configMap": {"name": "x", "optional": True}}]
    await create(kubectl, manifest)
    await emu.store.wait_for(lambda: _pod(emu, "p").get("status", {}).get("phase") == "Succeeded")
