"""What a pod's ``securityContext`` means for its processes and volumes, as a node applies it.

Pure decisions (:func:`process_identity`, :func:`memory_volume_size`,
:func:`needs_ownership_change`) and the kubelet's ``fsGroup`` walk
(:func:`apply_fs_group`). The Kubernetes semantics followed:

* ``runAsUser``/``runAsGroup`` of the container win over the pod's; without them the
  image's user runs, which for the simulated images (like NGC's) is root, and the
  primary group is root (0).
* The process's supplementary groups are ``fsGroup`` and ``supplementalGroups``
  (the image's ``/etc/group`` memberships are not merged: the simulated images have none).
* ``allowPrivilegeEscalation: false`` sets ``no_new_privs``.
* With ``fsGroup`` every file of a volume that supports ownership management (here
  emptyDir and PVC directories) gets group ``fsGroup`` and the permission bits
  ``rw-rw----`` OR'd in (``r--r-----`` if read-only), directories also ``--x--x---``
  and the setgid bit, so new files belong to ``fsGroup``. emptyDirs are always
  walked; for a PVC, ``fsGroupChangePolicy: OnRootMismatch`` skips the walk when the
  volume's root already has that group, those bits and setgid.
* A memory-backed emptyDir is a tmpfs of the node's allocatable memory, or of the
  pod's memory limit if every container has one and it is smaller, or of its
  ``sizeLimit`` if that is smaller still. Without such a volume ``/dev/shm`` is the
  container runtime's own 64 MiB tmpfs.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ...quantity import parse_quantity
from .store import Obj

#: The size of ``/dev/shm`` a container runtime (containerd, Docker) gives a container.
RUNTIME_SHM_BYTES = 64 * 1024 * 1024

_RW, _RO, _EXEC = 0o660, 0o440, 0o110


@dataclass(frozen=True)
class ProcessIdentity:
    """Who a container's first process runs as."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    no_new_privs: bool = False


def _field(pod: Obj, container: Obj, name: str) -> int | None:
    own = (container.get("securityContext") or {}).get(name)
    if own is not None:
        return int(own)
    value = (pod["spec"].get("securityContext") or {}).get(name)
    return None if value is None else int(value)


def fs_group(pod: Obj) -> int | None:
    """The pod's ``fsGroup``, if it sets one."""
    value = (pod["spec"].get("securityContext") or {}).get("fsGroup")
    return None if value is None else int(value)


def process_identity(pod: Obj, container: Obj) -> ProcessIdentity:
    """The uid, gid, supplementary groups and ``no_new_privs`` of ``container``'s process."""
    supplemental = (pod["spec"].get("securityContext") or {}).get("supplementalGroups") or []
    extra = [fs_group(pod), *supplemental]
    context = container.get("securityContext") or {}
    return ProcessIdentity(
        uid=_field(pod, container, "runAsUser") or 0,
        gid=_field(pod, container, "runAsGroup") or 0,
        groups=tuple(sorted({int(g) for g in extra if g is not None})),
        no_new_privs=context.get("allowPrivilegeEscalation") is False,
    )


def _pod_memory_limit(pod: Obj) -> int | None:
    """The pod's memory limit, if every container has one (as the kubelet's pod cgroup)."""
    limits = []
    for key in ("containers", "initContainers"):
        values = []
        for container in pod["spec"].get(key) or []:
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            if limit is None:
                return None
            values.append(int(parse_quantity(limit)))
        limits.append(values)
    app, init = limits
    return max([sum(app), *init]) if app else None


def memory_volume_size(node: Obj | None, pod: Obj, size_limit: str | None) -> int:
    """The size in bytes of a memory-backed emptyDir of ``pod`` on ``node``."""
    allocatable = ((node or {}).get("status") or {}).get("allocatable", {}).get("memory")
    size = int(parse_quantity(allocatable)) if allocatable else 0
    for cap in (_pod_memory_limit(pod), int(parse_quantity(size_limit)) if size_limit else None):
        if cap and (not size or cap <= size):
            size = cap
    return size


def ownership_bits(is_dir: bool, readonly: bool) -> int:
    """The mode bits ``fsGroup`` ORs into a volume's file or directory."""
    bits = _RO if readonly else _RW
    return bits | _EXEC | stat.S_ISGID if is_dir else bits


def needs_ownership_change(
    root_mode: int, root_gid: int, group: int, policy: str | None, readonly: bool = False
) -> bool:
    """Whether a volume's files get ``group``: always, unless ``OnRootMismatch`` finds its
    root (a directory of ``root_mode`` and ``root_gid``) already right."""
    if policy != "OnRootMismatch":
        return True
    if not stat.S_ISDIR(root_mode) or root_gid != group:
        return True
    wanted = ownership_bits(True, readonly)
    return root_mode & wanted != wanted


def apply_fs_group(
    root: Path, group: int, policy: str | None = None, readonly: bool = False
) -> bool:
    """Give every file under ``root`` (and ``root``) ``group`` as the kubelet does;
    False if ``policy`` let it skip the walk."""
    info = root.stat()
    if not needs_ownership_change(info.st_mode, info.st_gid, group, policy, readonly):
        return False
    for directory, dirs, files in os.walk(root, topdown=False):
        for name in [*files, *dirs]:
            _own(Path(directory, name), group, readonly)
    _own(root, group, readonly)
    return True


def _own(path: Path, group: int, readonly: bool) -> None:
    os.lchown(path, -1, group)
    mode = path.lstat().st_mode
    if not stat.S_ISLNK(mode):  # a symlink's mode means nothing; its target's stays
        path.chmod(stat.S_IMODE(mode) | ownership_bits(stat.S_ISDIR(mode), readonly))
