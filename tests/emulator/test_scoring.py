"""The emulator scores nodes as kube-scheduler's default profile does."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from twcc_spawner.simulated.emulator.scoring import (
    IMAGE_MAX_PER_CONTAINER,
    IMAGE_MIN,
    MIB,
    balanced_allocation,
    image_locality,
    least_allocated,
    scores,
)

IMAGE = "nvcr.io/nvidia/pytorch:21.11-py3"
GB = 10**9


def node(name: str, images: dict[str, int] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": spec,
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "8"},
            "images": [{"names": [n], "sizeBytes": s} for n, s in (images or {}).items()],
        },
    }


def pod(image: str = IMAGE, cpu: str = "8", memory: str = "64Gi", **spec: Any) -> dict[str, Any]:
    container = {"image": image, "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    return {"metadata": {"name": "p"}, "spec": {"containers": [container], **spec}}


@pytest.mark.parametrize(
    "fractions, least, balanced",
    [([0.0, 0.0], 100, 100), ([0.5, 0.5], 50, 100), ([1.0, 0.0], 50, 50), ([0.25, 0.75], 50, 75)],
)
def test_resource_scores(fractions: list[float], least: float, balanced: float) -> None:
    assert least_allocated(fractions) == least
    assert balanced_allocation(fractions) == balanced


def test_image_locality_scales_by_spread_and_clamps() -> None:
    one_container = pod()
    spread = Counter({IMAGE: 1})
    # 6.4 GB on 1 of 10 nodes: 640 MB counts; on every node it would hit the clamp.
    partial = image_locality(one_container, {IMAGE: 6_400_000_000}, spread, 10)
    assert partial == pytest.approx(
        100 * (640_000_000 - IMAGE_MIN) / (IMAGE_MAX_PER_CONTAINER - IMAGE_MIN)
    )
    assert image_locality(one_container, {IMAGE: 6_400_000_000}, Counter({IMAGE: 10}), 10) == 100
    assert image_locality(one_container, {}, spread, 10) == 0
    assert image_locality(one_container, {IMAGE: 10 * MIB}, spread, 1) == 0  # below 23 MiB


def test_init_containers_count_towards_the_threshold() -> None:
    with_init = pod(initContainers=[{"image": "busybox:1"}])
    alone = image_locality(pod(), {IMAGE: 1500 * MIB}, Counter({IMAGE: 1}), 1)
    assert alone == 100
    assert image_locality(with_init, {IMAGE: 1500 * MIB}, Counter({IMAGE: 1}), 1) < 100


def test_spreading_beats_an_image_few_nodes_hold() -> None:
    # 1 of 20 nodes holds the image: its 6.4 GB count as 320 MB, less than the cold
    # node's emptier CPU and memory are worth.
    warm, cold = node("warm", {IMAGE: 6_400_000_000}), node("cold")
    others = [node(f"n{i}") for i in range(18)]
    used = {"warm": Counter({"cpu": Decimal(20), "memory": Decimal(160 * 2**30)})}
    result = scores(pod(), [warm, cold], [warm, cold, *others], used)
    assert result["cold"] > result["warm"]


def test_a_preferred_term_beats_spreading() -> None:
    warm, cold = node("warm", {IMAGE: 6_400_000_000}), node("cold")
    used = {"warm": Counter({"cpu": Decimal(16), "memory": Decimal(128 * 2**30)})}
    preference = {
        "weight": 100,
        "preference": {
            "matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["warm"]}
            ]
        },
    }
    preferring = pod(
        affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [preference]}}
    )
    result = scores(preferring, [warm, cold], [warm, cold], used)
    assert result["warm"] > result["cold"]


def test_untolerated_prefer_no_schedule_taints_lower_a_node() -> None:
    taint = {"key": "maintenance", "value": "soon", "effect": "PreferNoSchedule"}
    tainted, clean = node("a", taints=[taint]), node("b")
    result = scores(pod(), [tainted, clean], [tainted, clean], {})
    assert result["b"] - result["a"] == pytest.approx(300)
    tolerating = pod(tolerations=[{"key": "maintenance", "operator": "Exists"}])
    result = scores(tolerating, [tainted, clean], [tainted, clean], {})
    assert result["a"] == result["b"]
