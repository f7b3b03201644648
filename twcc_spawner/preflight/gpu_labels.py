"""What NVIDIA GPU Feature Discovery (GFD) labels say about a node, and pod affinity from it.

GFD labels a GPU node with its driver version and GPU family::

    nvidia.com/cuda.driver-version.major: "470"   (deprecated: nvidia.com/cuda.driver.major)
    nvidia.com/cuda.driver-version.minor: "57"    (deprecated: nvidia.com/cuda.driver.minor)
    nvidia.com/cuda.driver-version.revision: "02" (deprecated: nvidia.com/cuda.driver.rev)
    nvidia.com/gpu.family: volta
    nvidia.com/gpu.compute.major: "7"
    nvidia.com/gpu.compute.minor: "0"

A release runs on a node whose driver meets the release's minimum or one of its
data-center branches (``418.40``: branch 418 at 418.40 or later; ``418``: any
418 driver), and whose GPU family is one of the release's architectures.

:func:`release_terms` turns those rules into required node-affinity terms, and
the hub decides which nodes qualify by matching the same terms
(:func:`terms_match`), so the preflight and the scheduler cannot disagree.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..catalog import Driver, Release

#: A node-selector requirement: (key, operator, values), as in ``matchExpressions``.
Requirement = tuple[str, str, tuple[str, ...]]
#: A node-selector term: requirements that must all hold.
Term = tuple[Requirement, ...]

DRIVER_KEYS = {
    "driver-version": (
        "nvidia.com/cuda.driver-version.major",
        "nvidia.com/cuda.driver-version.minor",
        "nvidia.com/cuda.driver-version.revision",
    ),
    "driver": (
        "nvidia.com/cuda.driver.major",
        "nvidia.com/cuda.driver.minor",
        "nvidia.com/cuda.driver.rev",
    ),
}
FAMILY_KEY = "nvidia.com/gpu.family"
COMPUTE_KEYS = ("nvidia.com/gpu.compute.major", "nvidia.com/gpu.compute.minor")

#: Compute capability (major, minors) of each family the catalog may name.
COMPUTE_CAPABILITIES: dict[str, tuple[int, tuple[int, ...]]] = {
    "kepler": (3, (0, 2, 5, 7)),
    "maxwell": (5, (0, 2, 3)),
    "pascal": (6, (0, 1, 2)),
    "volta": (7, (0, 2)),
    "turing": (7, (5,)),
    "ampere": (8, (0, 6, 7)),
    "hopper": (9, (0,)),
}


def family_of_compute(major: int, minor: int) -> str | None:
    """The family of a compute capability (8.9 is Ada, which no catalog entry names)."""
    return next(
        (f for f, (m, minors) in COMPUTE_CAPABILITIES.items() if m == major and minor in minors),
        None,
    )


@dataclass(frozen=True)
class NodeGpu:
    """A node's driver and GPU family as its GFD labels give them (None: not labelled)."""

    driver: tuple[int, int, int] | None
    driver_scheme: str | None
    family: str | None
    family_source: str | None  # "family" or "compute"

    @property
    def driver_text(self) -> str | None:
        """``470.57.02``."""
        if self.driver is None:
            return None
        major, minor, revision = self.driver
        return f"{major}.{minor:02d}.{revision:02d}"


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def node_gpu(labels: Mapping[str, str]) -> NodeGpu:
    """Read a node's GFD labels; the current driver labels win over the deprecated ones."""
    driver = scheme = None
    for name, keys in DRIVER_KEYS.items():
        parts = [_int(labels.get(key)) for key in keys]
        if parts[0] is not None and parts[1] is not None:
            driver, scheme = (parts[0], parts[1], parts[2] or 0), name
            break
    family: str | None = labels.get(FAMILY_KEY) or None
    source = "family" if family else None
    if family is None:
        major, minor = (_int(labels.get(key)) for key in COMPUTE_KEYS)
        if major is not None and minor is not None:
            family, source = (
                family_of_compute(major, minor) or f"compute {major}.{minor}",
                "compute",
            )
    return NodeGpu(driver, scheme, family, source)


def parse_driver(spec: str) -> tuple[int, ...]:
    """``"418.40"`` → ``(418, 40)``."""
    return tuple(int(part) for part in spec.split("."))


def driver_satisfies(version: tuple[int, int, int], driver: Driver) -> bool:
    """Whether a node driver meets the release's minimum or one of its data-center branches."""
    minimum = parse_driver(driver.minimum)
    if version >= minimum + (0,) * (3 - len(minimum)):
        return True
    for branch in map(parse_driver, driver.datacenter):
        if version[0] == branch[0] and version >= branch + (0,) * (3 - len(branch)):
            return True
    return False


def driver_needed(driver: Driver) -> str:
    """``driver 510 or later (or 470.57+ on the 470 branch, ...)``."""
    text = f"NVIDIA driver {driver.minimum} or later"
    if driver.datacenter:
        branches = ", ".join(
            spec if "." not in spec else f"{spec}+" for spec in sorted(driver.datacenter)
        )
        text += f" (or a data-center driver {branches})"
    return text


# --- node affinity -----------------------------------------------------------


def _equal(key: str, value: int) -> tuple[Requirement, ...]:
    # Numeric, so that a label "05" equals 5 as it does for Gt/Lt.
    return ((key, "Gt", (str(value - 1),)), (key, "Lt", (str(value + 1),)))


def _at_least(keys: Sequence[str], version: tuple[int, ...], *, branch: bool) -> list[Term]:
    """Terms for a driver of at least ``version`` (on its branch only, for ``branch``)."""
    major_key, minor_key, revision_key = keys
    major, minor, revision = (*version, 0, 0)[:3]
    same_major = ((major_key, "In", (str(major),)),)
    if len(version) == 1:
        return [same_major] if branch else [((major_key, "Gt", (str(major - 1),)),)]
    terms: list[Term] = [] if branch else [((major_key, "Gt", (str(major),)),)]
    if revision == 0:
        terms.append((*same_major, (minor_key, "Gt", (str(minor - 1),))))
    else:
        terms.append((*same_major, (minor_key, "Gt", (str(minor),))))
        terms.append(
            (*same_major, *_equal(minor_key, minor), (revision_key, "Gt", (str(revision - 1),)))
        )
    return terms


def driver_terms(driver: Driver, schemes: Iterable[str]) -> list[Term]:
    """Terms any of which a node's driver labels must meet (for each labelling in use)."""
    terms: list[Term] = []
    for scheme in schemes:
        keys = DRIVER_KEYS[scheme]
        terms += _at_least(keys, parse_driver(driver.minimum), branch=False)
        for spec in driver.datacenter:
            terms += _at_least(keys, parse_driver(spec), branch=True)
    return terms


def architecture_terms(architectures: Iterable[str], sources: Iterable[str]) -> list[Term]:
    """Terms any of which a node's GPU family (or, unlabelled, compute capability) must meet."""
    families = tuple(sorted(architectures))
    sources = set(sources)
    terms: list[Term] = []
    if "family" in sources:
        terms.append(((FAMILY_KEY, "In", families),))
    if "compute" in sources:
        unlabelled: Term = ((FAMILY_KEY, "DoesNotExist", ()),) if "family" in sources else ()
        by_major: dict[int, list[int]] = {}
        for family in families:
            major, minors = COMPUTE_CAPABILITIES[family]
            by_major.setdefault(major, []).extend(minors)
        for major, minors in sorted(by_major.items()):
            terms.append(
                (
                    *unlabelled,
                    (COMPUTE_KEYS[0], "In", (str(major),)),
                    (COMPUTE_KEYS[1], "In", tuple(str(m) for m in sorted(minors))),
                )
            )
    return terms


def and_terms(left: Sequence[Term], right: Sequence[Term]) -> list[Term]:
    """Terms meaning ``any(left) and any(right)``; an empty side means no constraint."""
    if not left or not right:
        return list(left or right)
    return [a + b for a, b in itertools.product(left, right)]


@dataclass(frozen=True)
class Labelling:
    """Which GFD labels the cluster's GPU nodes carry; checks whose labels are absent skip."""

    driver_schemes: frozenset[str] = frozenset()
    family_sources: frozenset[str] = frozenset()


def release_terms(release: Release, labelling: Labelling) -> tuple[list[Term], list[Term]]:
    """The (driver, architecture) affinity terms a pod of ``release`` needs on this cluster."""
    schemes = sorted(labelling.driver_schemes, key=list(DRIVER_KEYS).index)
    return (
        driver_terms(release.driver, schemes),
        architecture_terms(release.architectures, labelling.family_sources),
    )


def _requirement_matches(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    key, operator, values = requirement
    value = labels.get(key)
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    try:
        number, (bound,) = int(value or ""), map(int, values)
    except ValueError:
        return False
    return number > bound if operator == "Gt" else operator == "Lt" and number < bound


def terms_match(terms: Sequence[Term], labels: Mapping[str, str]) -> bool:
    """Whether node ``labels`` meet any of ``terms`` (Kubernetes' node-affinity rules)."""
    return any(all(_requirement_matches(r, labels) for r in term) for term in terms)


def term_from_k8s(term: Mapping[str, object]) -> Term:
    """A ``nodeSelectorTerm`` dict (camelCase, ``matchExpressions`` only) as a :data:`Term`."""
    expressions = term.get("matchExpressions") or []
    return tuple(
        (e["key"], e["operator"], tuple(e.get("values") or ()))  # type: ignore[index]
        for e in expressions  # type: ignore[union-attr]
    )


def term_to_k8s(term: Term) -> dict[str, object]:
    """A :data:`Term` as a ``nodeSelectorTerm`` dict."""
    expressions = []
    for key, operator, values in term:
        expression: dict[str, object] = {"key": key, "operator": operator}
        if values:
            expression["values"] = list(values)
        expressions.append(expression)
    return {"matchExpressions": expressions}
