"""The defaults the API server fills in on create, by kind."""

from __future__ import annotations

import base64
import itertools
import uuid

from .kinds import Kind
from .store import Obj

_cluster_ips = itertools.count(1)


def _pod_defaults(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    default_tolerations(spec)
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        image = container.get("image", "")
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        resources = container.setdefault("resources", {})
        for name, limit in (resources.get("limits") or {}).items():
            resources.setdefault("requests", {}).setdefault(name, limit)
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", _qos_class(spec))


def default_tolerations(spec: Obj) -> None:
    """Tolerate not-ready and unreachable nodes for 300 s, as the DefaultTolerationSeconds
    admission plugin does on every pod create and update."""
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(isinstance(t, dict) and t.get("key") == key for t in tolerations):
            tolerations.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            )


def _qos_class(spec: Obj) -> str:
    containers = spec.get("containers", [])
    resources = [c.get("resources", {}) for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        all(r.get("limits", {}).get(k) for k in ("cpu", "memory"))
        and r.get("requests", {}) == {k: v for k, v in r.get("limits", {}).items()}
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _service_defaults(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None":
        n = next(_cluster_ips)
        spec.setdefault("clusterIP", f"10.96.{n // 250}.{n % 250 + 1}")
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    for port in spec.get("ports", []):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})


def _secret_defaults(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    string_data: dict[str, str] = obj.pop("stringData", None) or {}
    data = obj.setdefault("data", {})
    for name, value in string_data.items():
        data[name] = base64.b64encode(value.encode()).decode()


def _pvc_defaults(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    spec.setdefault("storageClassName", "standard")
    spec.setdefault("volumeName", f"pvc-{obj['metadata']['uid']}")
    requested = spec.get("resources", {}).get("requests", {})
    obj["status"] = {
        "phase": "Bound",
        "accessModes": spec.get("accessModes", []),
        "capacity": {"storage": requested.get("storage", "0")},
    }


def _namespace_defaults(obj: Obj) -> None:
    obj.setdefault("spec", {"finalizers": ["kubernetes"]})
    obj["status"] = {"phase": "Active"}
    labels = obj["metadata"].setdefault("labels", {})
    labels.setdefault("kubernetes.io/metadata.name", obj["metadata"]["name"])


_DEFAULTS = {
    "pods": _pod_defaults,
    "services": _service_defaults,
    "secrets": _secret_defaults,
    "persistentvolumeclaims": _pvc_defaults,
    "namespaces": _namespace_defaults,
}


def prepare_new(kind: Kind, obj: Obj, namespace: str) -> Obj:
    """Fill in metadata and per-kind defaults of an object about to be created."""
    meta = obj.setdefault("metadata", {})
    if kind.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta.setdefault("uid", str(uuid.uuid4()))
    for field in ("resourceVersion", "deletionTimestamp", "creationTimestamp"):
        meta.pop(field, None)
    if default := _DEFAULTS.get(kind.key):
        default(obj)
    return obj
