"""The pure decisions behind a container's sandbox: identity, sizes, fsGroup, mounts."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from twcc_spawner.simulated.emulator.sandbox import (
    SHM,
    Cover,
    Tmpfs,
    check_executable,
    covers,
    plan,
    script,
    unavailable,
)
from twcc_spawner.simulated.emulator.security_context import (
    RUNTIME_SHM_BYTES,
    ProcessIdentity,
    apply_fs_group,
    memory_volume_size,
    needs_ownership_change,
    process_identity,
)

MI = 1024 * 1024


def _pod(pod_context: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", **container}]}
    if pod_context is not None:
        spec["securityContext"] = pod_context
    return {"spec": spec}


def test_container_settings_win_over_the_pods() -> None:
    pod = _pod(
        {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 100, "supplementalGroups": [4000, 100]},
        securityContext={"runAsUser": 1001, "allowPrivilegeEscalation": False},
    )
    assert process_identity(pod, pod["spec"]["containers"][0]) == ProcessIdentity(
        uid=1001, gid=3000, groups=(100, 4000), no_new_privs=True
    )


@pytest.mark.parametrize(
    "pod, identity",
    [
        (_pod(), ProcessIdentity(0, 0, (), False)),
        # runAsGroup unset: the primary group is root's; escalation allowed unless false
        (_pod({"runAsUser": 1000}), ProcessIdentity(1000, 0, (), False)),
        (
            _pod({"fsGroup": 100}, securityContext={"allowPrivilegeEscalation": True}),
            ProcessIdentity(0, 0, (100,), False),
        ),
        (_pod(securityContext={"runAsUser": 0}), ProcessIdentity(0, 0, (), False)),
    ],
)
def test_identity_defaults(pod: dict[str, Any], identity: ProcessIdentity) -> None:
    assert process_identity(pod, pod["spec"]["containers"][0]) == identity


NODE = {"status": {"allocatable": {"memory": "16Gi"}}}


@pytest.mark.parametrize(
    "limits, size_limit, size",
    [
        ([None], None, 16 * 1024 * MI),  # the node's allocatable memory
        ([None], "64Mi", 64 * MI),
        (["1Gi", "1Gi"], None, 2048 * MI),  # the pod's limit: the sum of its containers'
        (["1Gi", None], None, 16 * 1024 * MI),  # not every container has a limit
        (["1Gi"], "4Gi", 1024 * MI),  # a sizeLimit above the pod's limit does not count
        (["1Gi"], "64Mi", 64 * MI),
    ],
)
def test_memory_volume_size(limits: list[str | None], size_limit: str | None, size: int) -> None:
    containers = [
        {"name": f"c{i}", **({"resources": {"limits": {"memory": limit}}} if limit else {})}
        for i, limit in enumerate(limits)
    ]
    assert memory_volume_size(NODE, {"spec": {"containers": containers}}, size_limit) == size


DIR = stat.S_IFDIR


@pytest.mark.parametrize(
    "mode, gid, policy, needed",
    [
        (DIR | 0o2770, 100, None, True),  # Always (the default) walks every time
        (DIR | 0o2770, 100, "Always", True),
        (DIR | 0o2775, 100, "OnRootMismatch", False),
        (DIR | 0o2770, 0, "OnRootMismatch", True),  # another group
        (DIR | 0o0775, 100, "OnRootMismatch", True),  # no setgid
        (DIR | 0o2750, 100, "OnRootMismatch", True),  # the group cannot write
    ],
)
def test_on_root_mismatch_skips_only_a_volume_whose_root_is_right(
    mode: int, gid: int, policy: str | None, needed: bool
) -> None:
    assert needs_ownership_change(mode, gid, 100, policy) is needed


def test_fs_group_walk_sets_group_bits_and_setgid_and_leaves_symlinks(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    (volume / "sub").mkdir(parents=True)
    (volume / "sub" / "file").write_text("x")
    (volume / "sub" / "file").chmod(0o600)
    (volume / "link").symlink_to("/etc/hostname")
    volume.chmod(0o755)
    before = Path("/etc/hostname").stat()
    assert apply_fs_group(volume, 4321)
    modes = {
        p.name: (stat.S_IMODE(p.stat().st_mode), p.stat().st_gid)
        for p in (volume, volume / "sub", volume / "sub" / "file")
    }
    assert modes == {
        "volume": (0o2775, 4321),
        "sub": (0o2775, 4321),
        "file": (0o660, 4321),
    }
    assert (volume / "link").lstat().st_gid == 4321
    assert Path("/etc/hostname").stat().st_mode == before.st_mode  # the target is not the volume's
    assert not apply_fs_group(volume, 4321, "OnRootMismatch")


def test_covers_hide_closed_directories_keeping_only_what_is_needed() -> None:
    closed = {Path("/root"), Path("/tmp/pytest-of-root"), Path("/srv/private")}
    needed = {
        "/root/.pyenv/versions/3.11.7": True,
        "/root/.pyenv/versions/3.11.7/lib/python3.11": True,  # reached through the one above
        "/tmp/pytest-of-root/pytest-1/t0/emulator/pods": False,
        "/tmp/pytest-of-root/pytest-1/t0/emulator/pvcs": False,
        "/work/venv": True,  # nothing closed on the way: nothing to do
        "/srv": True,
        "/srv/private/images": True,  # under an open needed path, yet behind a closed one
    }
    assert covers(needed, lambda path: path in closed) == [
        Cover("/root", (("/root/.pyenv/versions/3.11.7", True),)),
        Cover("/srv/private", (("/srv/private/images", True),)),
        Cover(
            "/tmp/pytest-of-root",
            (
                ("/tmp/pytest-of-root/pytest-1/t0/emulator/pods", False),
                ("/tmp/pytest-of-root/pytest-1/t0/emulator/pvcs", False),
            ),
        ),
    ]


def test_plan_makes_the_memory_volume_at_dev_shm_the_containers_dev_shm() -> None:
    mounts = {SHM: "/pods/u/volumes/dshm", "/cache": "/pods/u/volumes/cache", "/home": "/h"}
    memory = {SHM: 32 * MI, "/cache": 16 * MI}
    made = plan(ProcessIdentity(1000), "/pods/u", mounts, memory, [], [], group=100)
    assert made.shm == Tmpfs("/pods/u/volumes/dshm", 32 * MI, 100, also=SHM)
    assert made.memory == (Tmpfs("/pods/u/volumes/cache", 16 * MI, 100),)
    assert made.shm.options == f"size={32 * MI},mode=3777,gid=100"
    assert plan(ProcessIdentity(), "/", {}, {}, [], []).shm == Tmpfs(SHM, RUNTIME_SHM_BYTES)


def test_the_script_drops_to_the_user_last() -> None:
    identity = ProcessIdentity(1000, 100, (100, 2000), no_new_privs=True)
    lines = script(plan(identity, "/pods/u", {}, {}, [], [])).splitlines()
    assert lines[-2] == "cd /pods/u"
    assert lines[-1].endswith(
        'setpriv --reuid=1000 --regid=100 --groups=100,2000 --no-new-privs -- "$@"'
    )
    assert (
        script(plan(ProcessIdentity(), "/", {}, {}, [], []))
        .splitlines()[-1]
        .endswith('setpriv --reuid=0 --regid=0 --clear-groups -- "$@"')
    )


def test_a_kubelet_that_is_not_root_says_why_it_cannot_run_containers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert unavailable() is None  # the test machine runs the emulator as root
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = unavailable()
    assert reason is not None and "runs as uid 1000" in reason and "needs root" in reason


def test_a_missing_command_is_a_start_error(tmp_path: Path) -> None:
    (tmp_path / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o755)
    check_executable("sh", "/usr/bin:/bin", "/")
    check_executable("./tool", "", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="jupyterhub-singleuser"):
        check_executable("/nonexistent/jupyterhub-singleuser", "/usr/bin", "/")
    with pytest.raises(FileNotFoundError):
        check_executable("no-such-tool", str(tmp_path), "/")
