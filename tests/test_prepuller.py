"""Cold starts: the pre-puller DaemonSet and which releases GPU nodes already hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from twcc_spawner.catalog import load_catalog
from twcc_spawner.podspec import GpuPodPolicy
from twcc_spawner.tools.prepuller import image_cache, prepuller_daemonset

GPU_POLICY = GpuPodPolicy(
    tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
    node_selector={"nvidia.com/gpu.present": "true"},
)


def test_daemonset_pulls_the_marked_releases_on_gpu_nodes(shipped_profiles: Path) -> None:
    daemonset = prepuller_daemonset(load_catalog(shipped_profiles), GPU_POLICY, namespace="hub")
    kubernetes_validate.validate(daemonset, latest_version(), strict=True)
    spec = daemonset["spec"]["template"]["spec"]
    assert [(c["name"], c["image"]) for c in spec["initContainers"]] == [
        ("pull-22-02", "nvcr.io/nvidia/pytorch:22.02-py3"),
        ("pull-21-11", "nvcr.io/nvidia/pytorch:21.11-py3"),
    ]
    assert all(c["command"] == ["/bin/sh", "-c", "exit 0"] for c in spec["initContainers"])
    assert [c["name"] for c in spec["containers"]] == ["pause"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert daemonset["metadata"]["namespace"] == "hub"


def test_daemonset_follows_the_registry_mirror(shipped_profiles: Path) -> None:
    policy = GpuPodPolicy(registry="harbor.example.org/ngc/pytorch")
    daemonset = prepuller_daemonset(load_catalog(shipped_profiles), policy)
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["image"] == "harbor.example.org/ngc/pytorch:22.02-py3"
    assert "nodeSelector" not in spec and "tolerations" not in spec
    assert "namespace" not in daemonset["metadata"]


def node(name: str, images: list[list[str]], gpus: str = "8", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.present": "true", **labels}},
        "status": {
            "allocatable": {"cpu": "36", "nvidia.com/gpu": gpus},
            "images": [{"names": names, "sizeBytes": 7_000_000_000} for names in images],
        },
    }


P2111 = "nvcr.io/nvidia/pytorch:21.11-py3"
P2202 = "nvcr.io/nvidia/pytorch:22.02-py3"


@pytest.mark.parametrize(
    ("nodes", "gpu_nodes", "expected"),
    [
        pytest.param([], 0, {}, id="no-nodes"),
        pytest.param(
            [node("gn1", [[P2111, "nvcr.io/nvidia/pytorch@sha256:" + "a" * 64]]), node("gn2", [])],
            2,
            {"21.11": 1},
            id="one-of-two",
        ),
        pytest.param(
            [node("gn1", [[P2111], [P2202]]), node("gn2", [[P2202]])],
            2,
            {"21.11": 1, "22.02": 2},
            id="several",
        ),
        pytest.param(
            [
                node("gn1", [[P2111]], gpus="0"),
                node("cpu1", [[P2111]], **{"nvidia.com/gpu.present": "false"}),
            ],
            0,
            {},
            id="not-gpu-nodes",
        ),
        pytest.param(
            [node("gn1", [["docker.io/library/pytorch:21.11-py3"]])], 1, {}, id="other-repo"
        ),
    ],
)
def test_image_cache_counts_gpu_nodes_per_release(
    shipped_profiles: Path, nodes: list[dict[str, Any]], gpu_nodes: int, expected: dict[str, int]
) -> None:
    catalog = load_catalog(shipped_profiles)
    cache = image_cache(catalog, nodes, GPU_POLICY)
    assert cache.gpu_nodes == gpu_nodes
    assert {k: v for k, v in cache.cached.items() if v} == expected
    assert set(cache.cached) == {r.release for r in catalog.releases}
    assert cache.nodes_with(catalog.release("21.11")) == expected.get("21.11", 0)


def test_image_cache_matches_a_pinned_digest(profiles_dir: Path) -> None:
    digest = "sha256:" + "b" * 64
    path = profiles_dir / "releases.yaml"
    path.write_text(
        path.read_text().replace(
            "    tag: 21.08-py3\n",
            f"    tag: 21.08-py3\n    image: nvcr.io/nvidia/pytorch:21.08-py3@{digest}\n",
        )
    )
    catalog = load_catalog(profiles_dir)
    nodes = [node("gn1", [[f"nvcr.io/nvidia/pytorch@{digest}"]])]
    assert image_cache(catalog, nodes, GPU_POLICY).cached["21.08"] == 1
