"""Materialising pod volumes as local directories.

An emptyDir's directory is world-writable (mode 777), as the kubelet makes it; with
the pod's ``fsGroup`` the emptyDir and PVC directories get that group
(:func:`.security_context.apply_fs_group`), a PVC's as ``fsGroupChangePolicy`` says,
once per pod when the volume is first set up: files a container makes later keep
their own modes. A ``subPath`` directory that does not exist is made with the mode
of its volume's root, as the kubelet makes it.
A memory-backed emptyDir is mounted as a tmpfs when its container starts
(:mod:`.sandbox`).
"""

from __future__ import annotations

import base64
import logging
import stat
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
    if not path.exists():
        path.mkdir(parents=True)
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


def _set_ownership(volume: Obj, path: Path, pod: Obj) -> None:
    """Give the volume the pod's ``fsGroup``, as the kubelet does when it sets it up."""
    group = fs_group(pod)
    if group is None or not {"persistentVolumeClaim", "emptyDir"} & volume.keys():
        return
    policy = (pod["spec"].get("securityContext") or {}).get("fsGroupChangePolicy")
    apply_fs_group(path, group, None if "emptyDir" in volume else policy)  # emptyDir: always


def _sub_path(root: Path, sub_path: str) -> Path:
    """The ``subPath`` directory of a volume, made with the mode of the volume's root."""
    path = root / sub_path
    if not path.exists():
        path.mkdir(parents=True)
        path.chmod(stat.S_IMODE(root.stat().st_mode))
    return path


def mount_volumes(
    pod: Obj, container: Obj, store: Store, pod_root: Path, pvc_root: Path, set_up: set[str]
) -> tuple[dict[str, str], dict[str, str | None]]:
    """Create the container's mounts; return mountPath → local dir, and Memory volume sizes.

    PVC directories live under ``pvc_root`` and outlive the pod; everything else is fresh
    under ``pod_root``. ``set_up`` holds the names of the pod's volumes already set up
    (given ``fsGroup``) for an earlier container or run; it is updated.
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
            if name not in set_up:
                _set_ownership(volume, dirs[name], pod)
                set_up.add(name)
        mounts[mount["mountPath"]] = str(_sub_path(dirs[name], mount.get("subPath", "")))
        empty_dir = volume.get("emptyDir") or {}
        if empty_dir.get("medium") == "Memory":
            memory[mount["mountPath"]] = empty_dir.get("sizeLimit")
    return mounts, memory
