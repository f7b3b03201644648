"""Containers run as their securityContext says, with fsGroup volumes and a sized /dev/shm.

Each pod is created with the real kubectl and its output read with ``kubectl logs``.
"""

from __future__ import annotations

import json
from typing import Any

from twcc_spawner.simulated.emulator import Emulator

from .conftest import GPU_TOLERATION, Kubectl, pod_manifest

IDENTITY = "id -u; id -g; id -G; grep NoNewPrivs /proc/self/status"


def _phase(emu: Emulator, name: str) -> str:
    return (emu.store.find("pods", "default", name) or {}).get("status", {}).get("phase", "")


async def _run(emu: Emulator, kubectl: Kubectl, manifest: dict[str, Any]) -> tuple[str, str]:
    """Create ``manifest``'s pod, wait for it to end; its phase and its log."""
    name = manifest["metadata"]["name"]
    await kubectl("create", "-f", "-", stdin=json.dumps(manifest))
    phase = await emu.store.wait_for(lambda: _phase(emu, name) in ("Succeeded", "Failed"))
    assert phase
    return _phase(emu, name), (await kubectl("logs", name)).stdout


def _sh(name: str, script: str, *args: str, **spec: Any) -> dict[str, Any]:
    """A pod running ``sh -c script`` with ``args`` as $1... (container paths are
    rewritten in arguments, not inside a script)."""
    spec.setdefault("tolerations", [GPU_TOLERATION])  # the nodes are GPU nodes
    return pod_manifest(name, ["sh", "-c", script, "sh", *args], **spec)


async def test_the_process_runs_as_run_as_user_group_and_supplemental_groups(
    emu: Emulator, kubectl: Kubectl
) -> None:
    manifest = _sh(
        "user",
        IDENTITY,
        securityContext={"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000, 2000]},
    )
    # the container's own settings win over the pod's
    manifest["spec"]["containers"][0]["securityContext"] = {
        "runAsGroup": 100,
        "allowPrivilegeEscalation": False,
    }
    phase, log = await _run(emu, kubectl, manifest)
    assert phase == "Succeeded", log
    uid, gid, groups, no_new_privs = log.splitlines()
    assert (uid, gid) == ("1000", "100")
    assert sorted(groups.split()) == ["100", "2000", "4000"]
    assert no_new_privs.split() == ["NoNewPrivs:", "1"]


async def test_without_a_security_context_the_process_is_the_images_root(
    emu: Emulator, kubectl: Kubectl
) -> None:
    phase, log = await _run(emu, kubectl, _sh("root", IDENTITY))
    assert phase == "Succeeded", log
    uid, gid, groups, no_new_privs = log.splitlines()
    assert (uid, gid, groups) == ("0", "0", "0")
    assert no_new_privs.split() == ["NoNewPrivs:", "0"]


async def test_fs_group_owns_the_emptydir_and_the_pvc_and_new_files_in_them(
    emu: Emulator, kubectl: Kubectl
) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "home"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await kubectl("create", "-f", "-", stdin=json.dumps(claim))
    script = 'touch "$1/made" "$2/made" && stat -c "%u:%g %A" "$1/made" "$2/made" "$1" "$2"'
    manifest = _sh(
        "owned",
        script,
        "/scratch",
        "/home/alice",
        securityContext={"runAsUser": 1000, "fsGroup": 100},
        volumes=[
            {"name": "scratch", "emptyDir": {}},
            {"name": "home", "persistentVolumeClaim": {"claimName": "home"}},
        ],
    )
    manifest["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "scratch", "mountPath": "/scratch"},
        {"name": "home", "mountPath": "/home/alice"},
    ]
    phase, log = await _run(emu, kubectl, manifest)
    assert phase == "Succeeded", log
    # runAsGroup unset: the primary group is root; setgid makes new files fsGroup's
    assert log.splitlines() == [
        "1000:100 -rw-r--r--",
        "1000:100 -rw-r--r--",
        "0:100 drwxrwsrwx",  # an emptyDir is world-writable, and now fsGroup's
        "0:100 drwxrwsr-x",  # the PVC's root (755) gains group rwx and setgid
    ]
    made = emu.workdir / "pvcs" / "default" / "home" / "made"
    assert (made.stat().st_uid, made.stat().st_gid) == (1000, 100)  # what stays on the PVC


async def test_without_fs_group_a_non_root_user_cannot_write_to_its_pvc(
    emu: Emulator, kubectl: Kubectl
) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await kubectl("create", "-f", "-", stdin=json.dumps(claim))
    manifest = _sh(
        "denied",
        'touch "$1/x"',
        "/data",
        securityContext={"runAsUser": 1000},
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
    )
    manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    phase, log = await _run(emu, kubectl, manifest)
    assert phase == "Failed"
    assert "Permission denied" in log


async def test_a_non_root_user_cannot_write_into_the_images_root_owned_files(
    emu: Emulator, kubectl: Kubectl
) -> None:
    # the NGC image's /opt/conda belongs to root: no pip install into it as uid 1000
    script = '"$1/bin/python" -c "import torch; print(torch.__name__)" && touch "$1/bin/x"'
    phase, log = await _run(
        emu, kubectl, _sh("image", script, "/opt/conda", securityContext={"runAsUser": 1000})
    )
    assert phase == "Failed"
    assert log.splitlines()[0] == "torch"  # its Python runs for everyone
    assert "Permission denied" in log


async def test_memory_emptydirs_are_tmpfs_of_their_size_limit(
    emu: Emulator, kubectl: Kubectl
) -> None:
    script = (
        'df -Pk /dev/shm "$1" | awk "NR > 1 { print \\$2 }"; '
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=33 2>&1 | grep -o 'No space left on device'"
    )
    manifest = _sh(
        "shm",
        script,
        "/cache",
        volumes=[
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Mi"}},
            {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        ],
    )
    manifest["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "cache", "mountPath": "/cache"},
    ]
    phase, log = await _run(emu, kubectl, manifest)
    assert phase == "Succeeded", log
    assert log.splitlines() == ["32768", "16384", "No space left on device"]


async def test_without_a_memory_volume_dev_shm_is_the_runtimes_64_mib(
    emu: Emulator, kubectl: Kubectl
) -> None:
    script = 'df -Pk /dev/shm | awk "NR > 1 { print \\$2 }"'
    phase, log = await _run(emu, kubectl, _sh("default-shm", script))
    assert (phase, log) == ("Succeeded", "65536\n")


async def test_a_memory_emptydir_without_size_limit_is_capped_by_the_pods_memory_limit(
    emu: Emulator, kubectl: Kubectl
) -> None:
    manifest = _sh(
        "capped",
        'df -Pk "$1" | awk "NR > 1 { print \\$2 }"',
        "/dev/shm",
        volumes=[{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
    )
    container = manifest["spec"]["containers"][0]
    container["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    container["resources"] = {"limits": {"memory": "48Mi"}}
    phase, log = await _run(emu, kubectl, manifest)
    assert (phase, log) == ("Succeeded", "49152\n")


async def test_a_kubelet_that_cannot_sandbox_refuses_to_start_containers(
    emu: Emulator, kubectl: Kubectl
) -> None:
    emu.kubelet.cannot_sandbox = "the emulator's kubelet runs as uid 1000; it needs root"
    await kubectl("create", "-f", "-", stdin=json.dumps(_sh("refused", "true")))
    await emu.store.wait_for(lambda: _phase(emu, "refused") == "Failed")
    pod = emu.store.find("pods", "default", "refused") or {}
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("StartError", 128)
    assert "it needs root" in terminated["message"]
    events = (await kubectl("get", "events", "-o", "json")).stdout
    assert "SIMULATED: cannot run the container" in events


async def test_fs_group_is_applied_once_per_pod_not_to_what_a_container_made_later(
    emu: Emulator, kubectl: Kubectl
) -> None:
    script = (
        'cat "$1/from-init"; { echo more >> "$1/from-init"; } 2> /dev/null || echo denied; '
        'touch "$1/mine" && stat -c "%u:%g %a" "$1/from-init" "$1/mine"'
    )
    manifest = _sh(
        "later",
        script,
        "/shared",
        securityContext={"fsGroup": 100},
        volumes=[{"name": "shared", "emptyDir": {}}],
    )
    container = manifest["spec"]["containers"][0]
    container["securityContext"] = {"runAsUser": 1000}
    container["volumeMounts"] = [{"name": "shared", "mountPath": "/shared"}]
    # the init container runs as the image's root: its file is root's, with fsGroup's group
    manifest["spec"]["initContainers"] = [
        {
            "name": "init",
            "image": "busybox",
            "command": ["sh", "-c", 'echo init > "$0/from-init"', "/shared"],
            "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
        }
    ]
    phase, log = await _run(emu, kubectl, manifest)
    assert phase == "Succeeded", log
    assert log.splitlines() == ["init", "denied", "0:100 644", "1000:100 644"]


async def test_kubectl_exec_runs_as_the_containers_user_and_sees_its_dev_shm(
    emu: Emulator, kubectl: Kubectl
) -> None:
    manifest = _sh(
        "busy",
        "echo started; sleep 60",
        securityContext={"runAsUser": 1000, "runAsGroup": 100, "supplementalGroups": [2000]},
        volumes=[{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}],
    )
    manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    manifest["spec"]["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": False}
    await kubectl("create", "-f", "-", stdin=json.dumps(manifest))
    await emu.store.wait_for(lambda: _phase(emu, "busy") == "Running")
    script = IDENTITY + '; df -Pk /dev/shm | awk "NR > 1 { print \\$2 }"'
    result = await kubectl("exec", "busy", "--", "sh", "-c", script)
    uid, gid, groups, no_new_privs, shm_kib = result.stdout.splitlines()
    assert (uid, gid, sorted(groups.split())) == ("1000", "100", ["100", "2000"])
    assert no_new_privs.split() == ["NoNewPrivs:", "1"]
    assert shm_kib == str(16 * 1024)
