"""Start fast: prefer the nodes that already hold a release's image, and say what a cold
start costs.

An NGC PyTorch image is several GB compressed. kube-scheduler's ImageLocality score has
weight 1 and scales an image's size by the share of *all* nodes holding it, so beside
GPU fit and spreading it rarely decides. The spawner therefore adds a
preferred node-affinity term (:func:`~twcc_spawner.podspec.prefer_nodes`) on the
fitting nodes that list the image (NodeAffinity's
score, weight 2 by default, then beats the other plugins' differences), computed from
the hub's node cache: no API call, and no effect on admission or capacity.

What a node holds comes from ``status.images``, which the kubelet caps at
``nodeStatusMaxImages`` (50 by default, largest first): a node can hold an image
without listing it. Such a node is simply not preferred; nothing is refused for it.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .cluster_state import ClusterState, Usage

PREFERENCE_WEIGHT = 100
"""The preferred term's weight (the maximum kube-scheduler allows)."""

MAX_PREFERRED_NODES = 64
"""At most this many node names go into one pod's preference, to keep the pod small."""

_PULLED = re.compile(
    r'Successfully pulled image "(?P<image>[^"]+)" in (?P<took>[^ ]+) '
    r"\((?P<waiting>[^ ]+) including waiting\)\. Image size: (?P<bytes>\d+) bytes\."
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def image_names(ref: str) -> frozenset[str]:
    """Names a node may list for ``ref``: ``repo:tag@sha256:…`` is listed as ``repo@sha256:…``."""
    if "@" not in ref:
        return frozenset({ref})
    repository, digest = ref.split("@", 1)
    last = repository.rsplit("/", 1)[-1]
    untagged = repository.rsplit(":", 1)[0] if ":" in last else repository
    return frozenset({ref, f"{untagged}@{digest}"})


@dataclass(frozen=True)
class Locality:
    """Where an image is, among the nodes a request fits on now."""

    fitting: int
    """Nodes that meet the placement and have the size's resources free now."""
    holding: tuple[str, ...]
    """Those of them that list the image, sorted."""


def locality(state: ClusterState, eligible: set[str], wanted: Usage, ref: str) -> Locality:
    """Which of the ``eligible`` nodes with ``wanted`` free hold ``ref`` (nodes' cache only)."""
    names = image_names(ref)
    fitting = [node for node in eligible if state.free(node).covers(wanted)]
    holding = sorted(node for node in fitting if not names.isdisjoint(state.nodes[node].images))
    return Locality(len(fitting), tuple(holding))


def preferred_nodes(found: Locality) -> tuple[str, ...]:
    """The nodes a pod should prefer: those holding its image, at most
    :data:`MAX_PREFERRED_NODES`; none when every fitting node holds it (no preference
    needed) or none does."""
    if len(found.holding) == found.fitting:
        return ()
    return found.holding[:MAX_PREFERRED_NODES]


def go_duration(text: str) -> float | None:
    """Seconds in a Go duration such as ``1m2.5s`` or ``850ms``; None if it is not one."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def pulled_rate(message: str) -> float | None:
    """Bytes per second of one kubelet "Successfully pulled image" event, else None."""
    match = _PULLED.fullmatch(message.strip())
    if match is None:
        return None
    seconds = go_duration(match["took"])
    if not seconds:
        return None
    return int(match["bytes"]) / seconds


def pull_rate(messages: Iterable[str]) -> float | None:
    """The median pull rate of the cluster's recent pulls (bytes/s), None without any."""
    rates = [rate for message in messages if (rate := pulled_rate(message)) is not None]
    return statistics.median(rates) if rates else None


@dataclass(frozen=True)
class Pull:
    """A pull of the server's image that the kubelet has begun and not finished."""

    image: str
    elapsed: float
    """Seconds since the kubelet's "Pulling image" event."""
    expected: float | None
    """Seconds the whole pull should take at the cluster's rate, if the size is known."""


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        value = event.get(key) or (event.get("series") or {}).get("lastObservedTime")
        if isinstance(value, datetime):
            return value
        if isinstance(value, str) and value:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def running_pull(
    events: Iterable[Mapping[str, Any]],
    image: str,
    size: int | None,
    rate: float,
    now: datetime,
) -> Pull | None:
    """The pull of ``image`` under way according to a pod's ``events``, oldest first."""
    started: datetime | None = None
    quoted = f'"{image}"'
    for event in events:
        message = event.get("message") or ""
        if quoted not in message:
            continue
        if event.get("reason") == "Pulling":
            started = _event_time(event)
        elif event.get("reason") in {"Pulled", "Failed", "BackOff"}:
            started = None
    if started is None:
        return None
    expected = size / rate if size and rate > 0 else None
    return Pull(image, max(0.0, (now - started).total_seconds()), expected)
