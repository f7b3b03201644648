"""Image pulls: the node's image store, the simulated registry, pull policies, seen by kubectl."""

from __future__ import annotations

import json
import re
from typing import Any

from twcc_spawner.simulated.emulator import Emulator
from twcc_spawner.simulated.emulator.image_store import PULL_RATE_ANNOTATION, go_duration, normalize
from twcc_spawner.simulated.emulator.twcc_images import NGC_PYTORCH_SIZE_ESTIMATE

from .conftest import Kubectl, pod_manifest
from .test_references import create, events, waiting_reason

NGC = "nvcr.io/nvidia/pytorch:24.05-py3"
PULLED = re.compile(
    r'^Successfully pulled image "(?P<image>[^"]+)" in (?P<took>\S+) '
    r"\((?P<waited>\S+) including waiting\)\. Image size: (?P<size>\d+) bytes\.$"
)


def _pod(emu: Emulator, name: str) -> dict[str, Any]:
    return emu.store.find("pods", "default", name) or {}


def _state(emu: Emulator, name: str) -> dict[str, Any]:
    statuses = _pod(emu, name).get("status", {}).get("containerStatuses") or [{}]
    return statuses[0].get("state", {})


def _seconds(duration: str) -> float:
    """Seconds of a duration the kubelet printed (``313ms``, ``1.5s``, ``1m2.5s``)."""
    if duration.endswith("ms"):
        return float(duration[:-2]) / 1000
    minutes, _, seconds = duration[:-1].rpartition("m")
    return float(minutes or 0) * 60 + float(seconds)


async def node_images(kubectl: Kubectl, node: str) -> list[dict[str, Any]]:
    return json.loads((await kubectl("get", "node", node, "-o", "json")).stdout)["status"].get(
        "images", []
    )


def on(node: str, name: str, command: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    return pod_manifest(
        name, command, gpus=1, nodeSelector={"kubernetes.io/hostname": node}, **spec
    )


async def test_a_pull_runs_at_the_nodes_rate_and_fills_its_store(
    emu: Emulator, kubectl: Kubectl
) -> None:
    assert await node_images(kubectl, "gn1") == []
    rate = 20e9  # bytes/s: 6 GB in 0.3 s
    await kubectl("annotate", "--overwrite", "node", "gn1", f"{PULL_RATE_ANNOTATION}={rate}")
    await create(kubectl, on("gn1", "first", ["true"]))
    await emu.store.wait_for(lambda: "terminated" in _state(emu, "first"))
    pulling, pulled = [e for e in await events(kubectl, "first") if e[1] in ("Pulling", "Pulled")]
    assert pulling == ("Normal", "Pulling", f'Pulling image "{NGC}"')
    match = PULLED.match(pulled[2])
    assert match and match["image"] == NGC and int(match["size"]) == NGC_PYTORCH_SIZE_ESTIMATE
    # the simulated pull takes at least size/rate, as the kubelet measures it
    assert _seconds(match["took"]) >= NGC_PYTORCH_SIZE_ESTIMATE / rate - 0.001  # ms precision
    assert _seconds(match["waited"]) >= _seconds(match["took"])
    (image,) = await node_images(kubectl, "gn1")
    assert image["sizeBytes"] == NGC_PYTORCH_SIZE_ESTIMATE
    assert image["names"][1] == NGC and image["names"][0].startswith(
        "nvcr.io/nvidia/pytorch@sha256:"
    )
    status = _pod(emu, "first")["status"]["containerStatuses"][0]
    assert status["imageID"] == image["names"][0]

    await create(kubectl, on("gn1", "second", ["true"]))
    await emu.store.wait_for(lambda: "terminated" in _state(emu, "second"))
    reasons = [(e[1], e[2]) for e in await events(kubectl, "second")]
    assert ("Pulled", f'Container image "{NGC}" already present on machine') in reasons
    assert "Pulling" not in {r for r, _ in reasons}
    assert await node_images(kubectl, "gn2") == []  # each node has its own store


async def test_pull_policy_always_pulls_and_never_does_not(emu: Emulator, kubectl: Kubectl) -> None:
    first = on("gn1", "first", ["true"])
    await create(kubectl, first)
    await emu.store.wait_for(lambda: "terminated" in _state(emu, "first"))
    again = on("gn1", "again", ["true"])
    again["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    await create(kubectl, again)
    await emu.store.wait_for(lambda: "terminated" in _state(emu, "again"))
    assert [e[1] for e in await events(kubectl, "again")].count("Pulling") == 1

    never = on("gn2", "never", ["true"])
    never["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    await create(kubectl, never)
    message = f'Container image "{NGC}" is not present with pull policy of Never'
    await emu.store.wait_for(
        lambda: "waiting" in _state(emu, "never") and message in str(_state(emu, "never"))
    )
    assert await waiting_reason(kubectl, "never") == "ErrImageNeverPull"
    assert ("Warning", "ErrImageNeverPull", message) in await events(kubectl, "never")
    assert await node_images(kubectl, "gn2") == []


async def test_an_unknown_image_fails_to_pull_and_backs_off(
    emu: Emulator, kubectl: Kubectl
) -> None:
    image = "registry.invalid/lab/torch:1"
    manifest = pod_manifest("p", ["true"], gpus=1)
    manifest["spec"]["containers"][0]["image"] = image
    await create(kubectl, manifest)
    seen: set[str] = set()

    def waiting() -> str:
        reason = _state(emu, "p").get("waiting", {}).get("reason", "")
        seen.add(reason)
        return reason

    await emu.store.wait_for(lambda: waiting() == "ImagePullBackOff")
    assert "ErrImagePull" in seen
    message = _state(emu, "p")["waiting"]["message"]
    assert message.startswith(f'Back-off pulling image "{image}": ErrImagePull: ')
    assert "registry.invalid/lab/torch:1: not found" in message
    # the kubelet tries again after its back-off (0.2 s, then 0.4 s in these tests)
    await emu.store.wait_for(
        lambda: sum(e["reason"] == "Pulling" for e in emu.store.items("events")) >= 3
    )
    listed = await events(kubectl, "p")
    assert ("Normal", "BackOff", f'Back-off pulling image "{image}"') in listed
    assert ("Warning", "Failed", "Error: ErrImagePull") in listed
    assert ("Warning", "Failed", "Error: ImagePullBackOff") in listed
    assert any(
        m.startswith(f'Failed to pull image "{image}": rpc error: code = NotFound')
        for _, _, m in listed
    )
    assert _pod(emu, "p")["status"]["phase"] == "Pending"


def test_references_and_durations_are_printed_as_the_kubelet_does() -> None:
    assert normalize("busybox") == "docker.io/library/busybox:latest"
    assert normalize("lab/tool:2") == "docker.io/lab/tool:2"
    assert normalize("localhost:5000/x") == "localhost:5000/x:latest"
    assert normalize(NGC) == NGC
    assert [go_duration(s) for s in (0.0004, 0.313, 1.5941, 62.5, 300)] == [
        "0s",
        "313ms",
        "1.594s",
        "1m2.5s",
        "5m0s",
    ]
    assert _seconds("1m2.5s") == 62.5 and _seconds("313ms") == 0.313


async def test_a_nodes_images_are_preloaded_from_the_cluster_description() -> None:
    cluster = {
        "registry": {"lab/tool:2": 1234},
        "nodes": [{"name": "n", "images": ["lab/tool:2", NGC]}],
    }
    async with Emulator(cluster=cluster) as emu:
        node = emu.store.get("nodes", "", "n")
    sizes = {image["names"][1]: image["sizeBytes"] for image in node["status"]["images"]}
    assert sizes == {"docker.io/lab/tool:2": 1234, NGC: NGC_PYTORCH_SIZE_ESTIMATE}
