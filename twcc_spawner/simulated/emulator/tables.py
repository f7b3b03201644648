"""Server-side Table output (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``).

Columns follow kube-apiserver's printers: pods NAME READY STATUS RESTARTS AGE (``-o
wide`` adds IP, NODE, NOMINATED NODE, READINESS GATES), nodes STATUS ROLES AGE VERSION
(and the addresses, OS image, kernel and runtime), events LAST SEEN TYPE REASON OBJECT
MESSAGE. Kinds without a printer get the default NAME and CREATED AT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .kinds import Kind
from .store import Obj

Column = tuple[str, str, int]  # name, type, priority (1: only with -o wide)
Row = Callable[[Obj], list[Any]]

_NONE = "<none>"


def wanted(request: web.Request) -> bool:
    """Whether the client asks for a Table."""
    return "as=Table" in request.headers.get("Accept", "")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """A duration as kubectl prints ages (``5s``, ``3m20s``, ``2d3h``…)."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // (24 * 365), (hours // 24) % 365
    return f"{years}y{days}d" if hours < 24 * 365 * 8 and days else f"{years}y"


def age(timestamp: str | None) -> str:
    """How long ago ``timestamp`` was, or ``<unknown>``."""
    at = _parse_time(timestamp)
    if at is None:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - at).total_seconds())


def _name(obj: Obj) -> str:
    return obj["metadata"]["name"]


def _created(obj: Obj) -> str:
    return age(obj["metadata"].get("creationTimestamp"))


def _pod_status(pod: Obj) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    for container in status.get("initContainerStatuses") or []:
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        total = len(pod["spec"].get("initContainers") or [])
        if terminated:
            reason = "Init:" + (
                terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}"
            )
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            done = sum(
                1
                for c in status.get("initContainerStatuses") or []
                if ((c.get("state") or {}).get("terminated") or {}).get("exitCode") == 0
            )
            reason = f"Init:{done}/{total}"
        break
    else:
        running = False
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state") or {}
            if (waiting := state.get("waiting")) and waiting.get("reason"):
                reason = waiting["reason"]
            elif (terminated := state.get("terminated")) and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated := state.get("terminated"):
                signal = terminated.get("signal")
                reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode')}"
            elif state.get("running") and container.get("ready"):
                running = True
        if reason == "Completed" and running:
            reason = "Running"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def _restarts(pod: Obj) -> int:
    return sum(
        c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or []
    )


def _pod_row(pod: Obj) -> list[Any]:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    gates = pod["spec"].get("readinessGates") or []
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    gate_text = (
        f"{sum(1 for g in gates if conditions.get(g.get('conditionType')) == 'True')}/{len(gates)}"
        if gates
        else _NONE
    )
    return [
        _name(pod),
        f"{ready}/{len(pod['spec'].get('containers') or [])}",
        _pod_status(pod),
        _restarts(pod),
        _created(pod),
        status.get("podIP") or _NONE,
        pod["spec"].get("nodeName") or _NONE,
        status.get("nominatedNodeName") or _NONE,
        gate_text,
    ]


def _node_row(node: Obj) -> list[Any]:
    status = node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = {"True": "Ready", "False": "NotReady"}.get((ready or {}).get("status"), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(
        {
            k.removeprefix("node-role.kubernetes.io/")
            for k in labels
            if k.startswith("node-role.kubernetes.io/")
        }
        | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set())
    )
    info = status.get("nodeInfo") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [
        _name(node),
        state,
        ",".join(roles) or _NONE,
        _created(node),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or _NONE,
        addresses.get("ExternalIP") or _NONE,
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _event_row(event: Obj) -> list[Any]:
    first = event.get("firstTimestamp") or event.get("eventTime")
    last = event.get("lastTimestamp") or first
    count = event.get("count") or 1
    seen = age(last) if count <= 1 else f"{age(last)} (x{count} over {age(first)})"
    involved = event.get("involvedObject") or {}
    source = event.get("source") or {}
    source_text = ", ".join(p for p in (source.get("component"), source.get("host")) if p)
    return [
        seen,
        event.get("type", ""),
        event.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        source_text or event.get("reportingComponent", ""),
        (event.get("message") or "").strip(),
        age(first),
        count,
        _name(event),
    ]


def _count(field: str) -> Row:
    return lambda obj: [_name(obj), len(obj.get(field) or {}), _created(obj)]


_STRING = "string"
_PRINTERS: dict[str, tuple[list[Column], Row]] = {
    "Pod": (
        [
            ("Name", _STRING, 0),
            ("Ready", _STRING, 0),
            ("Status", _STRING, 0),
            ("Restarts", "integer", 0),
            ("Age", _STRING, 0),
            ("IP", _STRING, 1),
            ("Node", _STRING, 1),
            ("Nominated Node", _STRING, 1),
            ("Readiness Gates", _STRING, 1),
        ],
        _pod_row,
    ),
    "Node": (
        [
            ("Name", _STRING, 0),
            ("Status", _STRING, 0),
            ("Roles", _STRING, 0),
            ("Age", _STRING, 0),
            ("Version", _STRING, 0),
            ("Internal-IP", _STRING, 1),
            ("External-IP", _STRING, 1),
            ("OS-Image", _STRING, 1),
            ("Kernel-Version", _STRING, 1),
            ("Container-Runtime", _STRING, 1),
        ],
        _node_row,
    ),
    "Event": (
        [
            ("Last Seen", _STRING, 0),
            ("Type", _STRING, 0),
            ("Reason", _STRING, 0),
            ("Object", _STRING, 0),
            ("Subobject", _STRING, 1),
            ("Source", _STRING, 1),
            ("Message", _STRING, 0),
            ("First Seen", _STRING, 1),
            ("Count", _STRING, 1),
            ("Name", _STRING, 1),
        ],
        _event_row,
    ),
    "Namespace": (
        [("Name", _STRING, 0), ("Status", _STRING, 0), ("Age", _STRING, 0)],
        lambda ns: [_name(ns), (ns.get("status") or {}).get("phase", ""), _created(ns)],
    ),
    "ConfigMap": (
        [("Name", _STRING, 0), ("Data", "integer", 0), ("Age", _STRING, 0)],
        _count("data"),
    ),
    "Secret": (
        [("Name", _STRING, 0), ("Type", _STRING, 0), ("Data", "integer", 0), ("Age", _STRING, 0)],
        lambda s: [_name(s), s.get("type", ""), len(s.get("data") or {}), _created(s)],
    ),
    "ServiceAccount": (
        [("Name", _STRING, 0), ("Secrets", "integer", 0), ("Age", _STRING, 0)],
        _count("secrets"),
    ),
    "PersistentVolumeClaim": (
        [
            ("Name", _STRING, 0),
            ("Status", _STRING, 0),
            ("Volume", _STRING, 0),
            ("Capacity", _STRING, 0),
            ("Access Modes", _STRING, 0),
            ("StorageClass", _STRING, 0),
            ("VolumeAttributesClass", _STRING, 0),
            ("Age", _STRING, 0),
            ("VolumeMode", _STRING, 1),
        ],
        lambda c: [
            _name(c),
            (c.get("status") or {}).get("phase", ""),
            (c.get("spec") or {}).get("volumeName", ""),
            ((c.get("status") or {}).get("capacity") or {}).get("storage", ""),
            ",".join(
                {
                    "ReadWriteOnce": "RWO",
                    "ReadOnlyMany": "ROX",
                    "ReadWriteMany": "RWX",
                    "ReadWriteOncePod": "RWOP",
                }.get(m, m)
                for m in (c.get("status") or {}).get("accessModes") or []
            ),
            (c.get("spec") or {}).get("storageClassName") or "",
            (c.get("spec") or {}).get("volumeAttributesClassName") or "<unset>",
            _created(c),
            (c.get("spec") or {}).get("volumeMode", ""),
        ],
    ),
    "Service": (
        [
            ("Name", _STRING, 0),
            ("Type", _STRING, 0),
            ("Cluster-IP", _STRING, 0),
            ("External-IP", _STRING, 0),
            ("Port(s)", _STRING, 0),
            ("Age", _STRING, 0),
            ("Selector", _STRING, 1),
        ],
        lambda s: [
            _name(s),
            (s.get("spec") or {}).get("type", ""),
            (s.get("spec") or {}).get("clusterIP", ""),
            ",".join((s.get("spec") or {}).get("externalIPs") or []) or _NONE,
            ",".join(
                f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                for p in (s.get("spec") or {}).get("ports") or []
            )
            or _NONE,
            _created(s),
            ",".join(
                f"{k}={v}" for k, v in sorted(((s.get("spec") or {}).get("selector") or {}).items())
            )
            or _NONE,
        ],
    ),
}
_DEFAULT: tuple[list[Column], Row] = (
    [("Name", _STRING, 0), ("Created At", "date", 0)],
    lambda obj: [_name(obj), obj["metadata"].get("creationTimestamp", "")],
)


def _partial(kind: Kind, obj: Obj) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(
    kind: Kind, objects: list[Obj], query: Mapping[str, str], metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The Table of ``objects`` (``includeObject``: None, Metadata — the default — or Object)."""
    columns, row = _PRINTERS.get(kind.kind, _DEFAULT)
    include = query.get("includeObject", "Metadata")
    rows = []
    for obj in objects:
        entry: dict[str, Any] = {"cells": row(obj)}
        if include == "Object":
            entry["object"] = obj
        elif include != "None":
            entry["object"] = _partial(kind, obj)
        rows.append(entry)
    definitions = [
        {
            "name": name,
            "type": type_,
            "format": "name" if name == "Name" else "",
            "description": "",
            "priority": priority,
        }
        for name, type_, priority in columns
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata
        or {
            "resourceVersion": str(objects[-1]["metadata"].get("resourceVersion", ""))
            if objects
            else ""
        },
        "columnDefinitions": definitions,
        "rows": rows,
    }
