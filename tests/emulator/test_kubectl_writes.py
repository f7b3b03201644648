"""The real kubectl's writes: dry runs, validation, immutable pods, /status, field validation,
namespaces."""

from __future__ import annotations

import asyncio
import json

from twcc_spawner.simulated.emulator import Emulator

from .conftest import IGNORES_SIGTERM, Kubectl, pod_manifest


def _yaml(obj: dict) -> str:
    return json.dumps(obj)


async def test_server_dry_run_persists_nothing(emu: Emulator, kubectl: Kubectl) -> None:
    pod = pod_manifest("dry")
    result = await kubectl("apply", "--dry-run=server", "-f", "-", stdin=_yaml(pod))
    assert "(server dry run)" in result.stdout
    assert emu.store.find("pods", "default", "dry") is None
    await kubectl("create", "configmap", "cfg", "--from-literal=k=v")
    await kubectl("delete", "configmap", "cfg", "--dry-run=server")
    assert emu.store.find("configmaps", "default", "cfg") is not None
    changed = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg"},
        "data": {"k": "w"},
    }
    diff = await kubectl("diff", "-f", "-", stdin=_yaml(changed), check=False)
    assert diff.returncode == 1 and "+  k: w" in diff.stdout
    assert emu.store.get("configmaps", "default", "cfg")["data"] == {"k": "v"}


async def _refused(kubectl: Kubectl, obj: dict) -> str:
    result = await kubectl("create", "-f", "-", stdin=_yaml(obj), check=False)
    assert result.returncode == 1
    return result.stderr


async def test_validation_beyond_the_schema(emu: Emulator, kubectl: Kubectl) -> None:
    bad_name = pod_manifest("Bad_Name")
    assert 'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain' in (
        await _refused(kubectl, bad_name)
    )
    bad_label = pod_manifest("l")
    bad_label["metadata"]["labels"] = {"app": "no spaces"}
    assert 'metadata.labels: Invalid value: "no spaces": a valid label must be' in (
        await _refused(kubectl, bad_label)
    )
    for gpus, message in (
        ("-1", 'Invalid value: "-1": must be greater than or equal to 0'),
        ("500m", 'Invalid value: "500m": must be an integer'),
    ):
        pod = pod_manifest("g", gpus=1)
        pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = gpus
        assert message in await _refused(kubectl, pod)
    unequal = pod_manifest("u", gpus=2)
    unequal["spec"]["containers"][0]["resources"]["requests"] = {"nvidia.com/gpu": "1"}
    assert (
        'spec.containers[0].resources.requests[nvidia.com/gpu]: Invalid value: "1": '
        "must be equal to nvidia.com/gpu limit of 2"
    ) in await _refused(kubectl, unequal)
    no_image = pod_manifest("i")
    del no_image["spec"]["containers"][0]["image"]
    assert "spec.containers[0].image: Required value" in await _refused(kubectl, no_image)
    bogus = pod_manifest("r", restartPolicy="Sometimes")
    assert (
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: '
        '"Always", "OnFailure", "Never"'
    ) in await _refused(kubectl, bogus)
    assert list(emu.store.items("pods")) == []


async def test_pod_spec_is_immutable_and_status_needs_the_subresource(
    emu: Emulator, kubectl: Kubectl
) -> None:
    await kubectl("create", "-f", "-", stdin=_yaml(pod_manifest("p", nodeName="nowhere")))
    moved = await kubectl("patch", "pod", "p", "-p", '{"spec":{"nodeName":"gn2"}}', check=False)
    assert moved.returncode == 1
    assert 'The Pod "p" is invalid: spec: Forbidden: pod updates may not change fields' in (
        moved.stderr
    )
    await kubectl("patch", "pod", "p", "-p", '{"status":{"message":"main"}}')
    assert "message" not in emu.store.get("pods", "default", "p")["status"]
    await kubectl("patch", "pod", "p", "--subresource=status", "-p", '{"status":{"message":"sub"}}')
    assert emu.store.get("pods", "default", "p")["status"]["message"] == "sub"
    image = await kubectl("set", "image", "pod/p", "notebook=nvcr.io/nvidia/pytorch:22.02-py3")
    assert "image updated" in image.stdout


async def test_field_validation(emu: Emulator, kubectl: Kubectl) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "bogus": 1}
    strict = await kubectl("create", "-f", "-", stdin=_yaml(cm), check=False)
    assert (
        strict.returncode == 1 and 'strict decoding error: unknown field "bogus"' in strict.stderr
    )
    warn = await kubectl("create", "--validate=warn", "-f", "-", stdin=_yaml(cm))
    assert 'Warning: unknown field "bogus"' in warn.stderr
    assert "bogus" not in emu.store.get("configmaps", "default", "x")
    cm["metadata"]["name"] = "y"
    ignored = await kubectl("create", "--validate=ignore", "-f", "-", stdin=_yaml(cm))
    assert "Warning" not in ignored.stderr and "bogus" not in emu.store.get(
        "configmaps", "default", "y"
    )


async def test_namespace_terminates_gracefully_and_system_ones_are_protected(
    emu: Emulator, kubectl: Kubectl
) -> None:
    await kubectl("create", "namespace", "lab")
    pod = pod_manifest("slow", gpus=1, terminationGracePeriodSeconds=30)
    pod["spec"]["containers"][0]["command"] = IGNORES_SIGTERM
    await kubectl("create", "-n", "lab", "-f", "-", stdin=_yaml(pod))
    await kubectl("create", "configmap", "cfg", "-n", "lab")
    async with asyncio.timeout(10):  # Running, and past installing its handler
        while (
            "ignoring SIGTERM"
            not in (await kubectl("logs", "slow", "-n", "lab", check=False)).stdout
        ):
            await asyncio.sleep(0.1)
    await kubectl("delete", "namespace", "lab", "--wait=false")
    assert emu.store.get("namespaces", "", "lab")["status"]["phase"] == "Terminating"
    phase = await kubectl("get", "ns", "lab", "-o", "jsonpath={.status.phase}")
    assert phase.stdout == "Terminating"
    await emu.store.wait_for(lambda: emu.store.find("configmaps", "lab", "cfg") is None)
    assert emu.store.get("pods", "lab", "slow")["metadata"]["deletionTimestamp"]
    refused = await kubectl("create", "configmap", "late", "-n", "lab", check=False)
    assert "because it is being terminated" in refused.stderr
    await kubectl("delete", "pod", "slow", "-n", "lab", "--grace-period=0", "--force")
    await emu.store.wait_for(lambda: emu.store.find("namespaces", "", "lab") is None)
    for name in ("default", "kube-system", "kube-public"):
        result = await kubectl("delete", "namespace", name, check=False)
        assert f'namespaces "{name}" is forbidden: this namespace may not be deleted' in (
            result.stderr
        )


async def test_reapply_merges_lists_by_their_keys(emu: Emulator, kubectl: Kubectl) -> None:
    """A strategic merge patch: containers merge by name, directives are not stored."""
    pod = pod_manifest("smp", ["sleep", "120"], gpus=1, nodeName="nowhere")
    pod["spec"]["containers"].append({"name": "side", "image": "busybox:1.36"})
    await kubectl("apply", "-f", "-", stdin=_yaml(pod))
    pod["spec"]["containers"][0]["image"] = "nvcr.io/nvidia/pytorch:22.02-py3"
    await kubectl("apply", "-f", "-", stdin=_yaml(pod))
    stored = emu.store.get("pods", "default", "smp")
    notebook, side = stored["spec"]["containers"]
    assert notebook["image"] == "nvcr.io/nvidia/pytorch:22.02-py3"
    assert notebook["command"] == ["sleep", "120"]
    assert notebook["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert side["name"] == "side"
    assert "$setElementOrder" not in json.dumps(stored)
    await kubectl("label", "pod", "smp", "tier=gpu")
    assert emu.store.get("pods", "default", "smp")["metadata"]["labels"]["tier"] == "gpu"


async def test_server_side_apply_tracks_managers_and_reports_conflicts(
    emu: Emulator, kubectl: Kubectl
) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1"}}
    await kubectl("apply", "--server-side", "-f", "-", stdin=_yaml(cm))
    managers = emu.store.get("configmaps", "default", "ssa")["metadata"]["managedFields"]
    assert [(m["manager"], m["operation"]) for m in managers] == [("kubectl", "Apply")]
    assert managers[0]["fieldsV1"] == {"f:data": {"f:a": {}}}
    await kubectl("patch", "configmap", "ssa", "-p", '{"data":{"a":"2"}}')
    cm["data"] = {"a": "3", "b": "x"}
    clash = await kubectl("apply", "--server-side", "-f", "-", stdin=_yaml(cm), check=False)
    assert clash.returncode == 1
    assert 'conflict with "kubectl-patch"' in clash.stderr and ".data.a" in clash.stderr
    assert emu.store.get("configmaps", "default", "ssa")["data"] == {"a": "2"}
    await kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=_yaml(cm))
    assert emu.store.get("configmaps", "default", "ssa")["data"] == {"a": "3", "b": "x"}
    cm["data"] = {"a": "3"}
    await kubectl("apply", "--server-side", "-f", "-", stdin=_yaml(cm))
    assert emu.store.get("configmaps", "default", "ssa")["data"] == {"a": "3"}


async def test_server_side_apply_of_a_pod_merges_containers(
    emu: Emulator, kubectl: Kubectl
) -> None:
    pod = pod_manifest("ssa-pod", ["sleep", "120"], gpus=1, nodeName="nowhere")
    await kubectl("apply", "--server-side", "-f", "-", stdin=_yaml(pod))
    pod["spec"]["containers"][0]["image"] = "nvcr.io/nvidia/pytorch:22.02-py3"
    await kubectl("apply", "--server-side", "-f", "-", stdin=_yaml(pod))
    notebook = emu.store.get("pods", "default", "ssa-pod")["spec"]["containers"][0]
    assert notebook["image"].endswith("22.02-py3") and notebook["command"] == ["sleep", "120"]
