"""Selection to pod: the image, GPU/CPU/memory resources, /dev/shm and GPU scheduling.

:func:`apply_selection` edits the pod KubeSpawner built from its traits. The
spawner's traits are never changed per spawn, so nothing one spawn chose can
leak into the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubernetes_asyncio.client import (
    V1Affinity,
    V1EmptyDirVolumeSource,
    V1EnvVar,
    V1NodeAffinity,
    V1NodeSelector,
    V1NodeSelectorRequirement,
    V1NodeSelectorTerm,
    V1Pod,
    V1PreferredSchedulingTerm,
    V1ResourceRequirements,
    V1Toleration,
    V1Volume,
    V1VolumeMount,
)
from kubespawner.utils import get_k8s_model

from .preflight.gpu_labels import Term
from .selection import Selection

SHM_VOLUME = "twcc-dshm"
LABEL_PREFIX = "twcc.ai/"


@dataclass(frozen=True)
class GpuPodPolicy:
    """The operator's settings that every GPU pod follows (from the spawner's traits)."""

    registry: str = "nvcr.io/nvidia/pytorch"
    gpu_resource: str = "nvidia.com/gpu"
    tolerations: Sequence[Mapping[str, Any]] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)


def cpu_quantity(cores: float) -> str:
    """``4`` for 4 cores, ``500m`` for half a core."""
    millis = Decimal(str(cores)) * 1000
    return str(int(millis // 1000)) if millis % 1000 == 0 else f"{int(millis)}m"


def resources(selection: Selection, policy: GpuPodPolicy) -> dict[str, str]:
    """Limits of the notebook container; requests are the same (Guaranteed QoS)."""
    size = selection.size
    return {
        "cpu": cpu_quantity(size.cpu),
        "memory": size.memory,
        policy.gpu_resource: str(size.gpus),
    }


def environment(selection: Selection, image: str) -> dict[str, str]:
    """Variables the container gets: what was selected, for the start script and the user."""
    release, size = selection.release, selection.size
    return {
        "JUPYTER_IMAGE": image,
        "JUPYTER_IMAGE_SPEC": image,
        "TWCC_SELECTION": selection.label,
        "TWCC_RELEASE": release.release,
        "TWCC_PYTORCH_VERSION": release.pytorch,
        "TWCC_SIZE": size.name,
        "TWCC_GPUS": str(size.gpus),
        "TWCC_SHM_SIZE": size.shm,
        "OMP_NUM_THREADS": str(max(1, int(size.cpu))),
    }


def metadata(selection: Selection) -> tuple[dict[str, str], dict[str, str]]:
    """Labels (for selectors: quota, capacity) and annotations (for people) of the pod."""
    labels = {
        LABEL_PREFIX + "release": selection.release.release,
        LABEL_PREFIX + "size": selection.size.name,
        LABEL_PREFIX + "gpus": str(selection.size.gpus),
    }
    annotations = {LABEL_PREFIX + "selection": selection.label}
    return labels, annotations


def replace_by_name(items: list[Any] | None, new: Sequence[Any]) -> list[Any]:
    names = {item.name for item in new}
    return [item for item in items or [] if item.name not in names] + list(new)


def apply_selection(pod: V1Pod, selection: Selection, policy: GpuPodPolicy) -> V1Pod:
    """Make ``pod`` (KubeSpawner's, built from traits) run ``selection``; returns it."""
    image = selection.image_ref(policy.registry)
    container = pod.spec.containers[0]
    container.image = image

    limits = resources(selection, policy)
    current = container.resources or V1ResourceRequirements()
    container.resources = V1ResourceRequirements(
        limits={**(current.limits or {}), **limits},
        requests={**(current.requests or {}), **limits},
    )

    env = [V1EnvVar(name=k, value=v) for k, v in environment(selection, image).items()]
    container.env = replace_by_name(container.env, env)

    shm = V1Volume(
        name=SHM_VOLUME,
        empty_dir=V1EmptyDirVolumeSource(medium="Memory", size_limit=selection.size.shm),
    )
    pod.spec.volumes = replace_by_name(pod.spec.volumes, [shm])
    mounts = [m for m in container.volume_mounts or [] if m.mount_path != "/dev/shm"]
    container.volume_mounts = replace_by_name(
        mounts, [V1VolumeMount(name=SHM_VOLUME, mount_path="/dev/shm")]
    )

    tolerations = list(pod.spec.tolerations or [])
    for spec in policy.tolerations:
        toleration = get_k8s_model(V1Toleration, dict(spec))
        if toleration not in tolerations:
            tolerations.append(toleration)
    pod.spec.tolerations = tolerations or None
    pod.spec.node_selector = {**(pod.spec.node_selector or {}), **policy.node_selector} or None

    labels, annotations = metadata(selection)
    pod.metadata.labels = {**(pod.metadata.labels or {}), **labels}
    pod.metadata.annotations = {**(pod.metadata.annotations or {}), **annotations}
    return pod


def require_node_terms(pod: V1Pod, terms: Sequence[Term]) -> V1Pod:
    """Make ``pod`` require a node meeting any of ``terms`` as well as what it required.

    The preflight's driver and GPU terms (:mod:`.preflight.gpu_labels`) are ANDed with the pod's
    own required node affinity (KubeSpawner's ``node_affinity_required``).
    """
    if not terms:
        return pod
    affinity = pod.spec.affinity = pod.spec.affinity or V1Affinity()
    node_affinity = affinity.node_affinity = affinity.node_affinity or V1NodeAffinity()
    required = node_affinity.required_during_scheduling_ignored_during_execution
    existing = (required.node_selector_terms if required else None) or [V1NodeSelectorTerm()]
    node_affinity.required_during_scheduling_ignored_during_execution = V1NodeSelector(
        node_selector_terms=[
            V1NodeSelectorTerm(
                match_expressions=[
                    *(old.match_expressions or []),
                    *(
                        V1NodeSelectorRequirement(key=k, operator=op, values=list(v) or None)
                        for k, op, v in term
                    ),
                ],
                match_fields=old.match_fields,
            )
            for old in existing
            for term in terms
        ]
    )
    return pod


def prefer_nodes(pod: V1Pod, nodes: Sequence[str], weight: int) -> V1Pod:
    """Make ``pod`` prefer ``nodes`` (by hostname) with ``weight``, beside its own preferences."""
    if not nodes:
        return pod
    affinity = pod.spec.affinity = pod.spec.affinity or V1Affinity()
    node_affinity = affinity.node_affinity = affinity.node_affinity or V1NodeAffinity()
    preferred = node_affinity.preferred_during_scheduling_ignored_during_execution or []
    hostname = V1NodeSelectorRequirement(
        key="kubernetes.io/hostname", operator="In", values=list(nodes)
    )
    node_affinity.preferred_during_scheduling_ignored_during_execution = [
        *preferred,
        V1PreferredSchedulingTerm(
            weight=weight, preference=V1NodeSelectorTerm(match_expressions=[hostname])
        ),
    ]
    return pod
