"""The simulated image store: what the registry knows, what each node holds, how fast pulls go.

The interface (used by the kubelet; meant for image-aware placement too):

* :class:`Registry` – ``size(reference)``: the compressed size in bytes of an image the
  simulated registry knows, or None (pulling it fails with ErrImagePull).
* :func:`node_images` – ``node → {reference: size}``, read from the Node's
  ``status.images`` (the kubelet's report, as on a real node).
* :func:`add_image` – records a pulled image in a Node's ``status.images``.
* :func:`pull_rate` – a node's pull rate in bytes per second: its
  :data:`PULL_RATE_ANNOTATION`, else :data:`DEFAULT_PULL_RATE`.

References are compared in their normalised form (:func:`normalize`): ``busybox`` is
``docker.io/library/busybox:latest``. Each stored image is listed under its tag and a
digest derived from that name (``...@sha256:<hex>``), as a container runtime lists both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .store import Obj

#: Node annotation: the node's image pull rate in bytes per second (a float).
PULL_RATE_ANNOTATION = "twcc.ai/simulated-image-pull-rate"

#: Pull rate of a node without the annotation: 125 MB/s, a 1 Gbit/s link to the registry.
DEFAULT_PULL_RATE = 125e6

#: Gives the size of an image the registry knows by a rule (e.g. every NGC tag), else None.
SizeRule = Callable[[str], int | None]


def normalize(reference: str) -> str:
    """``reference`` as a container runtime names it (registry, repository, tag)."""
    name, at, digest = reference.partition("@")
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if not at and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}@{digest}" if at else name


def digest_name(reference: str) -> str:
    """The ``repository@sha256:...`` name of a stored image (derived from its reference)."""
    name = normalize(reference)
    if "@" in name:
        return name
    repository = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return f"{repository}@sha256:{hashlib.sha256(name.encode()).hexdigest()}"


@dataclass(frozen=True)
class Registry:
    """The images the simulated registry serves: fixed ``images`` first, then ``rules``."""

    images: Mapping[str, int]
    rules: tuple[SizeRule, ...] = ()

    def with_images(self, images: Mapping[str, int]) -> Registry:
        """This registry serving ``images`` (reference → size) too."""
        return Registry({**self.images, **images}, self.rules)

    def size(self, reference: str) -> int | None:
        """The compressed size of ``reference`` in bytes, or None if the registry lacks it."""
        name = normalize(reference)
        known = {normalize(ref): size for ref, size in self.images.items()}
        if name in known:
            return known[name]
        return next((size for rule in self.rules if (size := rule(name)) is not None), None)


def node_images(node: Obj) -> dict[str, int]:
    """Every name of every image stored on ``node``, with its size in bytes."""
    return {
        name: int(image.get("sizeBytes", 0))
        for image in node.get("status", {}).get("images") or []
        for name in image.get("names", [])
    }


def has_image(node: Obj, reference: str) -> bool:
    """Whether ``node`` holds ``reference``."""
    return normalize(reference) in node_images(node)


def add_image(node: Obj, reference: str, size: int) -> None:
    """Record ``reference`` (``size`` bytes) in ``node``'s ``status.images``, newest first."""
    if has_image(node, reference):
        return
    images = node.setdefault("status", {}).setdefault("images", [])
    images.insert(0, {"names": [digest_name(reference), normalize(reference)], "sizeBytes": size})


def pull_rate(node: Obj) -> float:
    """``node``'s image pull rate in bytes per second."""
    value = node.get("metadata", {}).get("annotations", {}).get(PULL_RATE_ANNOTATION)
    try:
        rate = float(value) if value is not None else DEFAULT_PULL_RATE
    except ValueError:
        rate = DEFAULT_PULL_RATE
    return rate if rate > 0 else DEFAULT_PULL_RATE


def go_duration(seconds: float) -> str:
    """A duration as the kubelet prints one, to the millisecond: ``313ms``, ``1.594s``, ``1m2s``."""
    millis = int(seconds * 1000)
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    minutes, millis = divmod(millis, 60_000)
    text = f"{millis / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text
