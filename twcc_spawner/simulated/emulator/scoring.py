"""Node scores of kube-scheduler's default profile, so the emulator places pods as it does.

Each plugin scores a feasible node from 0 to 100 and the scheduler picks the highest
weighted sum (kube-scheduler's default weights); ties go to the first name, where
kube-scheduler picks at random. Modelled, from the default profile:

- NodeResourcesFit, LeastAllocated on CPU and memory (weight 1);
- NodeResourcesBalancedAllocation on CPU and memory (weight 1);
- ImageLocality (weight 1): the sizes of the pod's images a node lists in
  ``status.images``, each scaled by the share of all nodes that list it, clamped to
  23 MiB .. 1000 MiB per container and scaled to 0..100;
- NodeAffinity's preferred terms, normalised so the best node gets 100 (weight 2);
- TaintToleration: untolerated PreferNoSchedule taints, normalised in reverse (weight 3).

PodTopologySpread and InterPodAffinity (weight 2 each) score every node alike for the
pods this project creates (no owner, no pod affinity), so they are left out. Extended
resources such as GPUs are not part of LeastAllocated by default, as in kube-scheduler.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ...quantity import parse_quantity
from .scheduling import term_matches, tolerates
from .store import Obj

MAX_SCORE = 100
MIB = 1024 * 1024
IMAGE_MIN = 23 * MIB
IMAGE_MAX_PER_CONTAINER = 1000 * MIB
WEIGHTS = {
    "NodeResourcesFit": 1,
    "NodeResourcesBalancedAllocation": 1,
    "ImageLocality": 1,
    "NodeAffinity": 2,
    "TaintToleration": 3,
}
# What kube-scheduler counts for a container that requests nothing (non-zero defaults).
DEFAULT_REQUESTS = {"cpu": Decimal("0.1"), "memory": Decimal(200 * MIB)}


def _scoring_requests(pod: Obj) -> dict[str, Decimal]:
    total = {"cpu": Decimal(0), "memory": Decimal(0)}
    for container in pod.get("spec", {}).get("containers", []):
        resources = container.get("resources") or {}
        requests = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name in total:
            value = requests.get(name)
            total[name] += parse_quantity(value) if value is not None else DEFAULT_REQUESTS[name]
    return total


def _fractions(node: Obj, used: Mapping[str, Decimal], pod: Mapping[str, Decimal]) -> list[float]:
    allocatable = node["status"].get("allocatable", {})
    fractions = []
    for name in ("cpu", "memory"):
        capacity = parse_quantity(allocatable.get(name, "0"))
        requested = used.get(name, Decimal(0)) + pod[name]
        fractions.append(float(min(requested / capacity, 1)) if capacity > 0 else 1.0)
    return fractions


def least_allocated(fractions: Sequence[float]) -> float:
    """NodeResourcesFit's LeastAllocated: the mean unrequested share, times 100."""
    return sum((1 - f) * MAX_SCORE for f in fractions) / len(fractions)


def balanced_allocation(fractions: Sequence[float]) -> float:
    """NodeResourcesBalancedAllocation: 100 × (1 − the standard deviation of the shares)."""
    mean = sum(fractions) / len(fractions)
    deviation = (sum((f - mean) ** 2 for f in fractions) / len(fractions)) ** 0.5
    return (1 - deviation) * MAX_SCORE


def _image_sizes(nodes: Sequence[Obj]) -> tuple[list[dict[str, int]], Counter[str]]:
    listed = [
        {
            name: int(image.get("sizeBytes") or 0)
            for image in node["status"].get("images") or ()
            for name in image.get("names") or ()
        }
        for node in nodes
    ]
    spread: Counter[str] = Counter(name for images in listed for name in images)
    return listed, spread


def _normalized(image: str) -> str:
    return image if image.rfind(":") > image.rfind("/") else f"{image}:latest"


def image_locality(pod: Obj, images: Mapping[str, int], spread: Counter[str], total: int) -> float:
    """ImageLocality: the pod's images on this node, scaled by how widely they are spread."""
    spec = pod.get("spec", {})
    containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
    score = 0
    for container in containers:
        name = _normalized(container.get("image", ""))
        if name in images:
            score += int(images[name] * spread[name] / total)
    high = IMAGE_MAX_PER_CONTAINER * max(len(containers), 1)
    clamped = min(max(score, IMAGE_MIN), high)
    return MAX_SCORE * (clamped - IMAGE_MIN) / (high - IMAGE_MIN)


def _preferred_weight(pod: Obj, node: Obj) -> int:
    terms = (
        pod.get("spec", {})
        .get("affinity", {})
        .get("nodeAffinity", {})
        .get("preferredDuringSchedulingIgnoredDuringExecution")
        or []
    )
    return sum(term.get("weight", 0) for term in terms if term_matches(term["preference"], node))


def _intolerable(pod: Obj, node: Obj) -> int:
    tolerations = [
        t
        for t in pod.get("spec", {}).get("tolerations") or []
        if not t.get("effect") or t["effect"] == "PreferNoSchedule"
    ]
    return sum(
        1
        for taint in node.get("spec", {}).get("taints") or []
        if taint.get("effect") == "PreferNoSchedule" and not tolerates(tolerations, taint)
    )


def scores(
    pod: Obj, feasible: Sequence[Obj], all_nodes: Sequence[Obj], used: Mapping[str, Any]
) -> dict[str, float]:
    """The weighted default-profile score of each feasible node, by name."""
    requests = _scoring_requests(pod)
    listed, spread = _image_sizes(all_nodes)
    images = {n["metadata"]["name"]: imgs for n, imgs in zip(all_nodes, listed, strict=True)}
    affinity = {n["metadata"]["name"]: _preferred_weight(pod, n) for n in feasible}
    taints = {n["metadata"]["name"]: _intolerable(pod, n) for n in feasible}
    top_affinity, top_taints = max(affinity.values(), default=0), max(taints.values(), default=0)
    result = {}
    for node in feasible:
        name = node["metadata"]["name"]
        fractions = _fractions(node, used.get(name, {}), requests)
        result[name] = (
            WEIGHTS["NodeResourcesFit"] * least_allocated(fractions)
            + WEIGHTS["NodeResourcesBalancedAllocation"] * balanced_allocation(fractions)
            + WEIGHTS["ImageLocality"]
            * image_locality(pod, images.get(name, {}), spread, len(all_nodes))
            + WEIGHTS["NodeAffinity"]
            * (MAX_SCORE * affinity[name] / top_affinity if top_affinity else 0)
            + WEIGHTS["TaintToleration"]
            * (MAX_SCORE * (1 - taints[name] / top_taints) if top_taints else MAX_SCORE)
        )
    return result
