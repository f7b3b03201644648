"""Recording core/v1 Events about pods, as the scheduler and kubelet do, and expiring them."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from .store import Obj, Store, now

_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def record_event(
    store: Store, pod: Obj, type_: str, reason: str, message: str, component: str
) -> Obj:
    """Create an Event about ``pod``; ``type_`` is Normal or Warning."""
    meta = pod["metadata"]
    timestamp = now()
    return store.create(
        "events",
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta['name']}.{secrets.token_hex(8)}",
                "namespace": meta["namespace"],
            },
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "type": type_,
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": component,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "eventTime": None,
            "count": 1,
        },
    )


def expire_events(store: Store, ttl: float) -> int:
    """Delete the Events created more than ``ttl`` seconds ago; returns how many."""
    cutoff = datetime.now(UTC) - timedelta(seconds=ttl)
    expired = [
        event["metadata"]
        for event in store.items("events")
        if datetime.strptime(event["metadata"]["creationTimestamp"], _TIMESTAMP).replace(tzinfo=UTC)
        < cutoff
    ]
    for meta in expired:
        store.delete("events", meta["namespace"], meta["name"])
    return len(expired)


async def expire_events_forever(store: Store, ttl: float) -> None:
    """Keep Events for ``ttl`` seconds, as kube-apiserver's ``--event-ttl`` does."""
    while True:
        await asyncio.sleep(min(ttl / 4, 60.0))
        expire_events(store, ttl)
