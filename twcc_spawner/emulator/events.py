"""Recording core/v1 Events about pods, as the scheduler and kubelet do."""

from __future__ import annotations

import secrets

from .store import Obj, Store, now


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
