"""A container's process as a node runs it: its own mounts, its user, its ``/dev/shm``.

The kubelet starts each container through ``unshare --mount --propagation private``
(util-linux) and a short ``sh`` set-up that, inside that private mount namespace only:

* hides each host directory other users cannot enter (``/root``, a test's
  ``/tmp/pytest-of-root``) that holds a path the container needs, behind an empty
  tmpfs (mode 755), with only those paths bound back: the kubelet's pod, PVC and image
  directories (read-write), the image's root and the host Python the simulated
  images run (read-only). That Python stands for the image's own install, owned by
  root and readable by all, as ``/opt/conda`` is in an NGC image;
* mounts each memory-backed emptyDir as a tmpfs of its size (see
  :mod:`.security_context`), with ``fsGroup`` as its group; one mounted at
  ``/dev/shm`` is also the container's ``/dev/shm``, else that is a 64 MiB tmpfs;
* then runs the command with ``setpriv`` as the container's uid, gid and
  supplementary groups, with ``no_new_privs`` if the container forbids privilege
  escalation.

So ``df /dev/shm`` tells the truth, and a uid-1000 process cannot write where root
owns the files: permission problems show up as on a node. The mount namespace ends
with the container's processes, so nothing is left mounted on the host. This needs
root (CAP_SYS_ADMIN, to mount and to change user): :func:`unavailable` says why a
kubelet cannot, and the kubelet then refuses to start containers (StartError).

Deviations: a memory-backed emptyDir is a fresh tmpfs for each run of each container
(on a node it lives as long as the pod, shared by its containers); the rest of the
host's file system stays visible (read-write where host permissions allow, as for
``/tmp``); capabilities are not dropped; a command is looked for on the host, as
root, so a missing one is a start error but one the user may not execute fails when
it runs; only the topmost closed directory above a needed path is covered.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .security_context import RUNTIME_SHM_BYTES, ProcessIdentity

SHM = "/dev/shm"
_TOOLS = ("unshare", "setpriv", "mount", "umount", "mkdir")


@dataclass(frozen=True)
class Cover:
    """A host directory hidden behind an empty tmpfs, with ``keep`` bound back."""

    directory: str
    keep: tuple[tuple[str, bool], ...]  # (path, read-only)


@dataclass(frozen=True)
class Tmpfs:
    """A tmpfs at a container's local path (``also`` mounted there too)."""

    path: str
    size: int
    group: int | None = None
    also: str = ""

    @property
    def options(self) -> str:
        mode = "1777" if self.group is None else "3777"  # fsGroup adds setgid (and g+rwx)
        gid = "" if self.group is None else f",gid={self.group}"
        return f"size={self.size},mode={mode}{gid}"


@dataclass(frozen=True)
class Plan:
    """Everything the set-up does before the container's command runs."""

    identity: ProcessIdentity
    cwd: str
    covers: tuple[Cover, ...] = ()
    memory: tuple[Tmpfs, ...] = ()
    shm: Tmpfs = field(default_factory=lambda: Tmpfs(SHM, RUNTIME_SHM_BYTES))


def is_closed(path: Path) -> bool:
    """Whether users other than its owner and group cannot enter ``path``."""
    try:
        return not os.stat(path).st_mode & stat.S_IXOTH
    except OSError:
        return False


def _inside(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


def covers(needed: Mapping[str, bool], closed: Callable[[Path], bool] = is_closed) -> list[Cover]:
    """The covers that let another user reach each ``needed`` path (path → read-only).

    A path is kept at the topmost closed directory above it; a needed path inside
    another kept there is reached through that one.
    """
    grouped: dict[str, list[str]] = {}
    for path in sorted(needed):
        parents = reversed(Path(path).parents)  # "/" first
        top = next((str(d) for d in parents if str(d) != "/" and closed(d)), None)
        if top is not None:
            grouped.setdefault(top, []).append(path)
    return [
        Cover(top, tuple((p, needed[p]) for p in paths if not any(_inside(p, q) for q in paths)))
        for top, paths in sorted(grouped.items())
    ]


def host_python_paths() -> list[str]:
    """The host's Python that the simulated images run, and what it imports."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path}
    return sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)})


def plan(
    identity: ProcessIdentity,
    cwd: str,
    mounts: Mapping[str, str],
    memory: Mapping[str, int],
    shared: Iterable[str | Path],
    readable: Iterable[str | Path],
    group: int | None = None,
) -> Plan:
    """The set-up of one container: ``mounts`` (mountPath → local dir), the sizes of its
    memory-backed ones (mountPath → bytes), the host paths it needs, read-write
    (``shared``) and read-only (``readable``), and the pod's ``fsGroup``."""
    needed = {str(p): True for p in readable} | {str(p): False for p in shared}
    needed |= {local: False for local in mounts.values()}
    tmpfs = [
        Tmpfs(mounts[path], size, group, SHM if path == SHM else "")
        for path, size in sorted(memory.items())
    ]
    shm = next((t for t in tmpfs if t.also), Tmpfs(SHM, RUNTIME_SHM_BYTES))
    return Plan(identity, cwd, tuple(covers(needed)), tuple(t for t in tmpfs if not t.also), shm)


def unavailable() -> str | None:
    """Why this process cannot run containers in a sandbox, or None if it can."""
    if os.geteuid() != 0:
        return (
            "the emulator's kubelet runs as uid "
            f"{os.geteuid()}; it needs root (CAP_SYS_ADMIN) to mount a container's "
            "/dev/shm and volumes and to run it as its securityContext's user"
        )
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return f"util-linux {', '.join(missing)} not found on PATH"
    return None


def _q(value: str | int) -> str:
    return shlex.quote(str(value))


def script(plan: Plan) -> str:
    """The ``sh`` set-up of ``plan``; it ends by exec'ing its arguments as the user."""
    which = {tool: shutil.which(tool) or tool for tool in _TOOLS}
    mount, mkdir = _q(which["mount"]), _q(which["mkdir"])
    lines = ["set -e", "umask 022"]
    if plan.covers:
        # /dev/shm is free until the container's own is mounted: stage the paths there
        lines.append(f"{mount} -t tmpfs -o size=1m,mode=700 twcc-stage {SHM}")
    staged = 0
    for cover in plan.covers:
        first = staged
        for path, _ in cover.keep:
            lines += [f"{mkdir} {SHM}/{staged}", f"{mount} --bind {_q(path)} {SHM}/{staged}"]
            staged += 1
        lines.append(f"{mount} -t tmpfs -o mode=755 twcc-cover {_q(cover.directory)}")
        for index, (path, readonly) in enumerate(cover.keep, first):
            lines += [f"{mkdir} -p {_q(path)}", f"{mount} --move {SHM}/{index} {_q(path)}"]
            if readonly:
                lines.append(f"{mount} -o remount,bind,ro {_q(path)}")
    if plan.covers:
        lines.append(f"{_q(which['umount'])} {SHM}")
    for tmpfs in (*plan.memory, plan.shm):
        lines.append(f"{mount} -t tmpfs -o {tmpfs.options} twcc-memory {_q(tmpfs.path)}")
        if tmpfs.also:
            lines.append(f"{mount} --bind {_q(tmpfs.path)} {_q(tmpfs.also)}")
    setpriv = _as_user(plan, which["setpriv"])
    lines += [f"cd {_q(plan.cwd)}", f'exec {" ".join(map(_q, setpriv))} "$@"']
    return "\n".join(lines) + "\n"


def _as_user(plan: Plan, setpriv: str) -> list[str]:
    """``setpriv`` arguments that run a command as the plan's user, groups and privileges."""
    identity = plan.identity
    groups = ",".join(map(str, identity.groups))
    return [
        setpriv,
        f"--reuid={identity.uid}",
        f"--regid={identity.gid}",
        f"--groups={groups}" if groups else "--clear-groups",
        *(["--no-new-privs"] if identity.no_new_privs else []),
        "--",
    ]


def enter(plan: Plan, pid: int) -> list[str]:
    """The argv prefix that runs a command in the mount namespace of the container process
    ``pid`` (started by :func:`wrap` with ``plan``), in its working directory, as its user:
    ``kubectl exec``."""
    nsenter = shutil.which("nsenter") or "nsenter"
    setpriv = shutil.which("setpriv") or "setpriv"
    return [nsenter, f"--target={pid}", "--mount", f"--wd={plan.cwd}", *_as_user(plan, setpriv)]


def check_executable(command: str, path: str | None, cwd: str) -> None:
    """Raise FileNotFoundError if ``command`` names no executable, as a runtime's start
    fails (checked on the host, as root: the user's own permissions show when it runs)."""
    where = os.path.join(cwd, command) if "/" in command else command
    if shutil.which(where, path=path) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), command)


def wrap(plan: Plan, argv: Iterable[str]) -> list[str]:
    """``argv`` run in a private mount namespace set up as ``plan`` says."""
    unshare = shutil.which("unshare") or "unshare"
    setup = ["/bin/sh", "-c", script(plan), "twcc-sandbox"]
    return [unshare, "--mount", "--propagation", "private", *setup, *argv]
