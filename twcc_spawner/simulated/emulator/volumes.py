"""Materialising pod volumes as local directories.

An emptyDir's directory is world-writable (mode 777), as the kubelet makes it; with
the pod's ``fsGroup`` the emptyDir and PVC directories get that group
(:func:`.security_context.apply_fs_group`), a PVC's as ``fsGroupChangePolicy`` says.
A memory-backed emptyDir is mounted as a tmpfs when its container starts
(:mod:`.sandbox`).
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from .security_context import apply_fs_group, fs_group
from .store import Obj, Store

log = logging.getLogger(__name__)


def _write_items(target: Path, data: dict[str, bytes], items: list[dict[str, Any]] | None) -> None:
    paths = {i["key"]: i["path"] for i in items} if items else {k: k for k in data}
    for key, rel in paths.items():
        if key in data:
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data[key])


def _volume_dir(volume: Obj, pod: Obj, store: Store, pod_root: Path, pvc_root: Path) -> Path:
    namespace = pod["metadata"]["namespace"]
    if claim := volume.get("persistentVolumeClaim"):
        path = pvc_root / namespace / claim["claimName"]
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = pod_root / "volumes" / volume["name"]
    path.mkdir(parents=True, exist_ok=True)
    if "emptyDir" in volume:
        path.chmod(0o777)
    if source := volume.get("configMap"):
        config_map = store.find("configmaps", namespace, source.get("name", ""))
        data = {k: v.encode() for k, v in (config_map or {}).get("data", {}).items()}
        _write_items(path, data, source.get("items"))
    elif source := volume.get("secret"):
        secret = store.find("secrets", namespace, source.get("secretName", ""))
        data = {k: base64.b64decode(v) for k, v in (secret or {}).get("data", {}).items()}
        _write_items(path, data, source.get("items"))
    elif "emptyDir" not in volume:
        log.warning("SIMULATED: volume %s is served as an empty directory", volume["name"])
    return path


def mount_volumes(
    pod: Obj, container: Obj, store: Store, pod_root: Path, pvc_root: Path
) -> tuple[dict[str, str], dict[str, str | None]]:
    """Create the container's mounts; return mountPath → local dir, and Memory volume sizes.

    PVC directories live under ``pvc_root`` and outlive the pod; everything else is fresh
    under ``pod_root``.
    """
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    dirs: dict[str, Path] = {}
    mounts: dict[str, str] = {}
    memory: dict[str, str | None] = {}
    for mount in container.get("volumeMounts", []):
        name = mount["name"]
        volume = volumes.get(name, {"name": name, "emptyDir": {}})
        if name not in dirs:
            dirs[name] = _volume_dir(volume, pod, store, pod_root, pvc_root)
        path = dirs[name] / mount.get("subPath", "")
        path.mkdir(parents=True, exist_ok=True)
        mounts[mount["mountPath"]] = str(path)
        empty_dir = volume.get("emptyDir") or {}
        if empty_dir.get("medium") == "Memory":
            memory[mount["mountPath"]] = empty_dir.get("sizeLimit")
    group = fs_group(pod)
    policy = (pod["spec"].get("securityContext") or {}).get("fsGroupChangePolicy")
    for name, path in dirs.items():
        volume = volumes.get(name, {"emptyDir": {}})
        if group is not None and "persistentVolumeClaim" in volume:
            apply_fs_group(path, group, policy)
        elif group is not None and "emptyDir" in volume:
            apply_fs_group(path, group)  # emptyDirs ignore the policy
    return mounts, memory
