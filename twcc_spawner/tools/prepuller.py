"""Cold starts: pull NGC images onto GPU nodes ahead of time, and tell where they are cached.

NGC PyTorch images are 6-15 GB, so the first start of a release on a node can
take longer than everything else together. :func:`prepuller_daemonset` builds a
DaemonSet that runs on the GPU nodes (the spawner's GPU node selector and
tolerations) with one init container per release marked ``prepull: true``:
each runs a trivial command, which makes the kubelet pull its image, and a
pause container then keeps the pod (and so the images) in place.

:func:`image_cache` reads nodes' ``status.images`` to tell on how many GPU nodes
each release's image already is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog, Release
from ..podspec import GpuPodPolicy
from ..preflight.image_locality import image_names
from ..quantity import parse_quantity

PREPULLER_NAME = "twcc-image-prepuller"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"

_TINY = {"cpu": "0", "memory": "0"}


def _pull_container(release: Release, registry: str) -> dict[str, Any]:
    return {
        "name": "pull-" + release.release.replace(".", "-"),
        "image": release.image_ref(registry),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", "exit 0"],
        "resources": {"requests": dict(_TINY), "limits": {"cpu": "100m", "memory": "64Mi"}},
    }


def prepulled_releases(catalog: Catalog) -> tuple[Release, ...]:
    """The releases an operator marked ``prepull: true`` (hidden ones are skipped)."""
    return tuple(r for r in catalog.releases if r.prepull and not r.hidden)


def prepuller_daemonset(
    catalog: Catalog,
    policy: GpuPodPolicy,
    *,
    name: str = PREPULLER_NAME,
    namespace: str | None = None,
    pause_image: str = PAUSE_IMAGE,
) -> dict[str, Any]:
    """A DaemonSet manifest pulling every ``prepull`` release onto every GPU node."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "image-prepuller"}
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace:
        metadata["namespace"] = namespace
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 0,
        "initContainers": [
            _pull_container(release, policy.registry) for release in prepulled_releases(catalog)
        ],
        "containers": [
            {
                "name": "pause",
                "image": pause_image,
                "resources": {
                    "requests": dict(_TINY),
                    "limits": {"cpu": "10m", "memory": "16Mi"},
                },
            }
        ],
    }
    if policy.node_selector:
        pod_spec["nodeSelector"] = dict(policy.node_selector)
    if policy.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in policy.tolerations]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "100%"},
            },
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


@dataclass(frozen=True)
class ImageCache:
    """How many GPU nodes hold each release's image."""

    gpu_nodes: int
    cached: Mapping[str, int]

    def nodes_with(self, release: Release) -> int:
        """GPU nodes that hold ``release``'s image."""
        return self.cached.get(release.release, 0)


def is_gpu_node(node: Mapping[str, Any], policy: GpuPodPolicy) -> bool:
    """A node that GPU pods may run on: it carries the GPU labels and has GPUs to give."""
    labels = node.get("metadata", {}).get("labels") or {}
    if any(labels.get(key) != value for key, value in policy.node_selector.items()):
        return False
    allocatable = node.get("status", {}).get("allocatable") or {}
    return parse_quantity(str(allocatable.get(policy.gpu_resource, "0"))) > 0


def image_cache(
    catalog: Catalog, nodes: Iterable[Mapping[str, Any]], policy: GpuPodPolicy
) -> ImageCache:
    """Which releases are cached on how many GPU nodes, from nodes as the API returns them."""
    gpu_nodes = [node for node in nodes if is_gpu_node(node, policy)]
    held = [
        {
            name
            for image in node.get("status", {}).get("images") or []
            for name in image.get("names") or []
        }
        for node in gpu_nodes
    ]
    cached = {
        release.release: sum(
            1 for names in held if image_names(release.image_ref(policy.registry)) & names
        )
        for release in catalog.releases
    }
    return ImageCache(gpu_nodes=len(gpu_nodes), cached=cached)
