"""The objects a pod references, checked where Kubernetes checks them, in its words.

* ServiceAccount: the admission plugin refuses the pod (:func:`admit_pod`, 403).
* PersistentVolumeClaim: the scheduler leaves the pod Pending (:func:`missing_claims`).
* Secret and ConfigMap volumes: the kubelet cannot mount them, records FailedMount and
  keeps the pod in ContainerCreating (:func:`mount_failures`).
* ``secretKeyRef``, ``configMapKeyRef`` and ``envFrom``: the kubelet cannot make the
  container's config, CreateContainerConfigError (:func:`config_error`).

A reference marked ``optional: true`` may be missing, as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import ApiError
from .store import Obj, Store

DEFAULT_SERVICE_ACCOUNT = "default"


def admit(store: Store, plural: str, obj: Obj) -> None:
    """The admission checks of references, for an object about to be created."""
    if plural == "pods":
        admit_pod(store, obj)


def admit_pod(store: Store, pod: Obj) -> None:
    """Refuse a pod whose service account does not exist, as the ServiceAccount admission."""
    meta, spec = pod["metadata"], pod.get("spec", {})
    namespace = meta.get("namespace", "")
    account = spec.get("serviceAccountName") or DEFAULT_SERVICE_ACCOUNT
    if store.find("serviceaccounts", namespace, account) is None:
        name = meta.get("name") or meta.get("generateName", "")
        raise ApiError(
            403,
            f'pods "{name}" is forbidden: error looking up service account '
            f'{namespace}/{account}: serviceaccount "{account}" not found',
            reason="Forbidden",
            details={"name": name, "kind": "pods"},
        )


def missing_claims(store: Store, pod: Obj) -> list[str]:
    """The scheduler's reasons about the pod's PVCs that do not exist (empty if all do)."""
    namespace = pod["metadata"]["namespace"]
    return [
        f'persistentvolumeclaim "{claim}" not found'
        for volume in pod["spec"].get("volumes") or []
        if (claim := (volume.get("persistentVolumeClaim") or {}).get("claimName")) is not None
        and store.find("persistentvolumeclaims", namespace, claim) is None
    ]


def _source(volume: Obj) -> tuple[str, str, Obj] | None:
    if (source := volume.get("secret")) is not None:
        return "secret", source.get("secretName", ""), source
    if (source := volume.get("configMap")) is not None:
        return "configmap", source.get("name", ""), source
    return None


def mount_failures(store: Store, pod: Obj, container_names: set[str]) -> list[str]:
    """FailedMount messages for the volumes of the named containers that cannot be set up."""
    namespace = pod["metadata"]["namespace"]
    containers = pod["spec"].get("containers", []) + pod["spec"].get("initContainers", [])
    mounted = {
        m["name"]
        for c in containers
        if c["name"] in container_names
        for m in c.get("volumeMounts", [])
    }
    messages = []
    for volume in pod["spec"].get("volumes") or []:
        found = _source(volume)
        if found is None or volume["name"] not in mounted:
            continue
        kind, name, source = found
        plural = "secrets" if kind == "secret" else "configmaps"
        obj = store.find(plural, namespace, name)
        prefix = f'MountVolume.SetUp failed for volume "{volume["name"]}" : '
        if obj is None:
            if not source.get("optional"):
                messages.append(f'{prefix}{kind} "{name}" not found')
            continue
        data = obj.get("data") or {}
        for item in source.get("items") or []:
            if item["key"] not in data and not source.get("optional"):
                messages.append(f"{prefix}{kind} references non-existent config key: {item['key']}")
                break
    return messages


def _key_refs(container: Obj) -> Iterator[tuple[str, Obj]]:
    for var in container.get("env") or []:
        source = var.get("valueFrom") or {}
        for field, plural in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps")):
            if field in source:
                yield plural, source[field]


def config_error(store: Store, pod: Obj, container: Obj) -> str | None:
    """Why the kubelet cannot make ``container``'s environment, or None if it can."""
    namespace = pod["metadata"]["namespace"]
    kinds = {"secrets": ("secret", "Secret"), "configmaps": ("configmap", "ConfigMap")}
    for plural, ref in _key_refs(container):
        lower, title = kinds[plural]
        obj = store.find(plural, namespace, ref.get("name", ""))
        if ref.get("optional"):
            continue
        if obj is None:
            return f'{lower} "{ref.get("name", "")}" not found'
        if ref["key"] not in (obj.get("data") or {}):
            return f"couldn't find key {ref['key']} in {title} {namespace}/{ref.get('name', '')}"
    for source in container.get("envFrom") or []:
        for field, plural in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
            ref: dict[str, Any] = source.get(field) or {}
            if not ref or ref.get("optional"):
                continue
            if store.find(plural, namespace, ref.get("name", "")) is None:
                return f'{kinds[plural][0]} "{ref.get("name", "")}" not found'
    return None
