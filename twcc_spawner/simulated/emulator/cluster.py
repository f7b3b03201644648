"""Simulated cluster descriptions (YAML or dict) turned into Node objects."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .image_store import PULL_RATE_ANNOTATION, Registry, add_image
from .store import Obj
from .validation import KUBERNETES_VERSION

DEFAULT_CLUSTER = Path(__file__).parent / "clusters" / "twcc-v100.yaml"

#: Label that marks every emulated node, so it is never mistaken for a real one.
SIMULATED_LABEL = "twcc.ai/simulated"


def load_cluster(source: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a cluster description: a mapping, a YAML file path, or None for the default."""
    if isinstance(source, Mapping):
        return dict(source)
    return yaml.safe_load(Path(source or DEFAULT_CLUSTER).read_text())


def _merged(defaults: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in node.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            value = {**merged[key], **value}
        merged[key] = value
    return merged


def node_objects(cluster: Mapping[str, Any], registry: Registry | None = None) -> list[Obj]:
    """The Node objects of a cluster description (their ``images`` sized by ``registry``)."""
    defaults = cluster.get("defaults", {})
    return [node_object(_merged(defaults, node), registry) for node in cluster.get("nodes", [])]


def _gpu_labels(gpu: Mapping[str, Any]) -> dict[str, str]:
    major, minor = str(gpu.get("compute", "7.0")).split(".")
    labels = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": str(gpu["product"]),
        "nvidia.com/gpu.count": str(gpu.get("count", 1)),
        "nvidia.com/gpu.memory": str(gpu.get("memory", 0)),
        "nvidia.com/gpu.family": str(gpu.get("family", "")),
        "nvidia.com/gpu.compute.major": major,
        "nvidia.com/gpu.compute.minor": minor,
    }
    driver = str(gpu.get("driver", "")).split(".")
    if len(driver) == 3:
        if gpu.get("deprecated_driver_labels"):
            names = ("nvidia.com/cuda.driver.major", ".minor", ".rev")
        else:
            names = ("nvidia.com/cuda.driver-version.major", ".minor", ".revision")
            labels["nvidia.com/cuda.driver-version.full"] = ".".join(driver)
        prefix = names[0].rsplit(".", 1)[0]
        labels[names[0]] = driver[0]
        labels[prefix + names[1]] = driver[1]
        labels[prefix + names[2]] = driver[2]
    if cuda := gpu.get("cuda"):
        cuda_major, cuda_minor = str(cuda).split(".")[:2]
        labels["nvidia.com/cuda.runtime-version.major"] = cuda_major
        labels["nvidia.com/cuda.runtime-version.minor"] = cuda_minor
    return labels


def node_object(spec: Mapping[str, Any], registry: Registry | None = None) -> Obj:
    """One Node object from a merged node description.

    ``image_pull_rate`` (bytes/s) becomes the node's pull-rate annotation; ``images``
    lists the references the node holds from the start, which ``registry`` must know.
    """
    name = spec["name"]
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
    }
    capacity = {
        "cpu": str(spec.get("cpu", "8")),
        "memory": str(spec.get("memory", "32Gi")),
        "pods": str(spec.get("pods", 110)),
        "ephemeral-storage": str(spec.get("ephemeral_storage", "500Gi")),
    }
    if gpu := spec.get("gpu"):
        labels.update(_gpu_labels(gpu))
        capacity["nvidia.com/gpu"] = str(gpu.get("count", 1))
    labels.update(spec.get("labels", {}))
    labels[SIMULATED_LABEL] = "true"
    ready = bool(spec.get("ready", True))
    node: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                **dict(spec.get("annotations", {})),
                **(
                    {PULL_RATE_ANNOTATION: str(float(spec["image_pull_rate"]))}
                    if spec.get("image_pull_rate")
                    else {}
                ),
            },
        },
        "spec": {"taints": [dict(t) for t in spec.get("taints", [])]},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "KubeletNotReady",
                    "message": "SIMULATED kubelet (twcc-spawner emulator)",
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": name,
                "containerRuntimeVersion": "twcc-emulator://0",
                "kernelVersion": "simulated",
                "kubeProxyVersion": f"v{KUBERNETES_VERSION}.0",
                "kubeletVersion": f"v{KUBERNETES_VERSION}.0",
                "machineID": name,
                "operatingSystem": "linux",
                "osImage": "SIMULATED node (twcc-spawner emulator)",
                "systemUUID": name,
            },
        },
    }
    if spec.get("unschedulable"):
        node["spec"]["unschedulable"] = True
    for reference in reversed(spec.get("images") or []):
        size = registry.size(reference) if registry else None
        if size is None:
            raise ValueError(f"node {name}: image {reference} is not in the simulated registry")
        add_image(node, reference, size)
    return node
