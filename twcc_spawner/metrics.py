"""Prometheus metrics for GPU servers, served with JupyterHub's own on the hub's ``/metrics``.

JupyterHub exports prometheus_client's default registry at ``/hub/metrics``, so
the metrics defined here appear there without further set-up:

``twcc_spawns_total{release, size}``
    Servers that became ready.
``twcc_spawn_refusals_total{reason}``
    Spawns refused with a message for the user (:func:`~.spawner.spawn_refusal`'s
    ``reason``: ``invalid_selection``, ``unschedulable``, ``container_failed``, the
    preflight checks' reasons, …).
``twcc_gpus_held``
    GPUs held by user server pods that are scheduled and not finished, read from
    KubeSpawner's pod reflector, so it is right after a hub restart too.
``twcc_time_to_ready_seconds{release}``
    From the start request to a running server: dominated by image pulls on cold nodes.
``twcc_queue_length{size}``
    Spawns waiting in the hub's GPU queue.
``twcc_queue_wait_seconds{size, outcome}``
    How long spawns waited: ``admitted``, ``refused`` (a check failed at the front),
    ``stopped`` (Stop Server) or ``timeout`` (``queue_max_wait``).
``twcc_queue_gave_up_total{size, reason}``
    Waiting spawns that ended without starting: ``stopped`` or ``timeout``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from .podspec import LABEL_PREFIX
from .refusal import SpawnRefusal
from .selection import Selection

T = TypeVar("T")

SPAWNS = Counter(
    "twcc_spawns",
    "GPU servers that became ready, by NGC release and size.",
    ["release", "size"],
)
REFUSALS = Counter(
    "twcc_spawn_refusals",
    "Spawns refused with a message for the user, by reason.",
    ["reason"],
)
GPUS_HELD = Gauge(
    "twcc_gpus_held",
    "GPUs held by scheduled, unfinished user server pods.",
)
TIME_TO_READY = Histogram(
    "twcc_time_to_ready_seconds",
    "Seconds from a start request to a running server, by NGC release.",
    ["release"],
    buckets=(5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, float("inf")),
)


QUEUE_LENGTH = Gauge(
    "twcc_queue_length",
    "Spawns waiting in the hub's GPU queue, by size.",
    ["size"],
)
QUEUE_WAIT = Histogram(
    "twcc_queue_wait_seconds",
    "Seconds spawns waited in the GPU queue, by size and how the wait ended.",
    ["size", "outcome"],
    buckets=(1, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, float("inf")),
)
QUEUE_GAVE_UP = Counter(
    "twcc_queue_gave_up",
    "Waiting spawns that ended without starting (stopped or timed out), by size.",
    ["size", "reason"],
)
GAVE_UP = ("stopped", "timeout")


class Queued(Protocol):
    """What the queue metrics read of a waiting spawn."""

    @property
    def size(self) -> str: ...


def queue_joined(size: str) -> None:
    """A spawn joined the line of ``size``."""
    QUEUE_LENGTH.labels(size=size).inc()


def queue_left(waiter: Queued, waited: float, outcome: str) -> None:
    """A spawn left the queue after ``waited`` seconds: admitted, refused, stopped or timeout."""
    QUEUE_LENGTH.labels(size=waiter.size).dec()
    QUEUE_WAIT.labels(size=waiter.size, outcome=outcome).observe(waited)
    if outcome in GAVE_UP:
        QUEUE_GAVE_UP.labels(size=waiter.size, reason=outcome).inc()


def gpus_held(pods: Iterable[Mapping[str, Any]]) -> int:
    """GPUs of the pods that hold them: scheduled on a node and not finished."""
    total = 0
    for pod in pods:
        if not pod.get("spec", {}).get("nodeName"):
            continue
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        gpus = (pod.get("metadata", {}).get("labels") or {}).get(LABEL_PREFIX + "gpus", "0")
        total += int(gpus) if gpus.isdigit() else 0
    return total


def count_gpus_held(pods: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
    """Make :data:`GPUS_HELD` read ``pods()`` (the reflected user pods) at every scrape."""
    GPUS_HELD.set_function(lambda: gpus_held(pods()))


def spawn_refused(reason: str) -> None:
    """Count a refusal."""
    REFUSALS.labels(reason=reason or "unknown").inc()


def server_ready(selection: Selection, seconds: float) -> None:
    """Count a server that became ready ``seconds`` after its start request."""
    SPAWNS.labels(release=selection.release.release, size=selection.size.name).inc()
    TIME_TO_READY.labels(release=selection.release.release).observe(seconds)


async def observe_start(
    start: Awaitable[T], selection: Callable[[], Selection | None], clock: Callable[[], float]
) -> T:
    """Await a spawner's start, counting a refusal or the ready server and its start time."""
    began = clock()
    try:
        result = await start
    except SpawnRefusal as e:
        spawn_refused(e.reason)
        raise
    chosen = selection()
    if chosen is not None:
        server_ready(chosen, clock() - began)
    return result
