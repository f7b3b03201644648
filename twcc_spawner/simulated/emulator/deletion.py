"""Deleting objects as kube-apiserver does: bound pods gracefully, namespaces via Terminating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .controller import Controller
from .errors import ApiError
from .kinds import KINDS
from .store import Obj, Store

#: Namespaces the NamespaceLifecycle admission plugin refuses to delete.
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def start_graceful_deletion(store: Store, pod: Obj, grace: Any) -> Obj:
    """Mark a bound pod for deletion; the kubelet stops it and removes the object."""
    meta = pod["metadata"]
    seconds = (
        int(grace) if grace is not None else pod["spec"].get("terminationGracePeriodSeconds", 30)
    )
    if meta.get("deletionTimestamp") and seconds >= meta.get("deletionGracePeriodSeconds", 0):
        return pod
    deadline = datetime.now(UTC) + timedelta(seconds=seconds)
    meta["deletionTimestamp"] = deadline.strftime(_TIMESTAMP)
    meta["deletionGracePeriodSeconds"] = seconds
    return store.update("pods", pod)


def delete_object(store: Store, key: str, obj: Obj, grace: Any = None) -> Obj:
    """Delete one object: at once, gracefully (bound pods, unless ``grace`` is 0: a forced
    deletion) or via Terminating (namespaces)."""
    meta = obj["metadata"]
    if key == "pods" and obj["spec"].get("nodeName") and str(grace) != "0":
        return start_graceful_deletion(store, obj, grace)
    if key == "namespaces":
        return terminate_namespace(store, obj)
    return store.delete(key, meta.get("namespace", ""), meta["name"])


def terminate_namespace(store: Store, namespace: Obj) -> Obj:
    """Put a namespace in Terminating; :func:`finish_namespaces` empties and removes it."""
    name = namespace["metadata"]["name"]
    if name in PROTECTED_NAMESPACES:
        raise ApiError(
            403,
            f'namespaces "{name}" is forbidden: this namespace may not be deleted',
            details={"name": name, "kind": "namespaces"},
        )
    if namespace["metadata"].get("deletionTimestamp"):
        return namespace
    namespace["metadata"]["deletionTimestamp"] = datetime.now(UTC).strftime(_TIMESTAMP)
    namespace["status"] = {"phase": "Terminating"}
    return store.update("namespaces", namespace)


def terminating(store: Store, namespace: str) -> bool:
    """Whether ``namespace`` is being deleted."""
    found = store.find("namespaces", "", namespace)
    return bool(found and found["metadata"].get("deletionTimestamp"))


def finish_namespaces(store: Store) -> None:
    """Delete the contents of Terminating namespaces, and each namespace once it is empty."""
    for namespace in [
        n for n in store.items("namespaces") if n["metadata"].get("deletionTimestamp")
    ]:
        name, left = namespace["metadata"]["name"], 0
        for kind in KINDS:
            if not kind.namespaced:
                continue
            for obj in list(store.items(kind.key, name)):
                left += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    delete_object(store, kind.key, obj)
        if not left:
            store.delete("namespaces", "", name)


class NamespaceController(Controller):
    """Finishes the deletion of Terminating namespaces (kube-controller-manager's job)."""

    watched = frozenset({"namespaces", *(k.key for k in KINDS if k.namespaced)})

    def reconcile(self) -> None:
        finish_namespaces(self.store)
