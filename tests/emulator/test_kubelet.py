"""Kubelet stand-in: runs the container command locally, reports status, stops on delete."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from kubernetes_asyncio import client
from kubernetes_asyncio.client import CoreV1Api

from twcc_spawner.simulated.emulator import Emulator
from twcc_spawner.simulated.emulator.events import expire_events

from .conftest import eventually, pod_manifest

PROBE_SCRIPT = """
import json, os, subprocess
out = {
    "smi_list": subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout,
    "smi_query": subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
        capture_output=True, text=True).stdout,
    "env": {k: v for k, v in os.environ.items() if k.startswith(("POD_", "BIND", "KUBE_EMU"))},
}
mounts = json.loads(os.environ["KUBE_EMULATOR_MOUNTS"])
with open(os.path.join(mounts["/workspace"], "out.json"), "w") as f:
    json.dump(out, f)
with open(os.environ["KUBE_EMULATOR_TERMINATION_LOG"], "w") as f:
    f.write("bye")
raise SystemExit(3)
"""


def _pod(emu: Emulator, name: str) -> dict:
    return emu.store.find("pods", "default", name) or {}


def _phase(emu: Emulator, name: str) -> str:
    return _pod(emu, name).get("status", {}).get("phase", "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_runs_command_with_env_gpus_and_mounts(emu: Emulator, api: CoreV1Api) -> None:
    await api.create_namespaced_persistent_volume_claim(
        "default",
        {
            "metadata": {"name": "home"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    manifest = pod_manifest("job", [sys.executable, "-c", PROBE_SCRIPT], gpus=2)
    container = manifest["spec"]["containers"][0]
    container["env"] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "BIND", "value": "0.0.0.0:8888"},
    ]
    container["volumeMounts"] = [
        {"name": "home", "mountPath": "/workspace"},
        {"name": "shm", "mountPath": "/dev/shm"},
    ]
    manifest["spec"]["volumes"] = [
        {"name": "home", "persistentVolumeClaim": {"claimName": "home"}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
    ]
    await api.create_namespaced_pod("default", manifest)
    await emu.store.wait_for(lambda: _phase(emu, "job") == "Failed")
    pod = await api.read_namespaced_pod("job", "default")
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.message, terminated.reason) == (3, "bye", "Error")
    ip = pod.status.pod_ip
    assert ip.startswith("127.") and not ip.startswith("127.0.")

    await api.delete_namespaced_pod("job", "default")
    await emu.store.wait_for(lambda: not _pod(emu, "job"))
    out = json.loads((emu.workdir / "pvcs" / "default" / "home" / "out.json").read_text())
    assert out["smi_list"].splitlines()[1].startswith("GPU 1: Tesla V100-SXM2-32GB (UUID: GPU-")
    assert out["smi_query"].splitlines() == ["Tesla V100-SXM2-32GB, 470.57.02, 32768 MiB"] * 2
    env = out["env"]
    assert (env["POD_NAME"], env["POD_IP"], env["BIND"]) == ("job", ip, f"{ip}:8888")
    assert json.loads(env["KUBE_EMULATOR_MEMORY_VOLUMES"]) == {"/dev/shm": "1Gi"}


async def test_readiness_probe_and_delete_frees_gpus(emu: Emulator, api: CoreV1Api) -> None:
    server = [sys.executable, "-m", "http.server", "--bind", "0.0.0.0", "8000"]
    manifest = pod_manifest("web", server, gpus=2, nodeSelector={"kubernetes.io/hostname": "gn1"})
    manifest["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 8000}}
    await api.create_namespaced_pod("default", manifest)
    await emu.store.wait_for(
        lambda: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in _pod(emu, "web").get("status", {}).get("conditions", [])
        )
    )
    pod = await api.read_namespaced_pod("web", "default")
    assert pod.status.phase == "Running" and pod.status.container_statuses[0].ready
    pid = int(pod.status.container_statuses[0].container_id.split("/")[2])
    assert _alive(pid)

    blocked = pod_manifest("next", gpus=1, nodeSelector={"kubernetes.io/hostname": "gn1"})
    await api.create_namespaced_pod("default", blocked)
    await emu.store.wait_for(lambda: "Insufficient nvidia.com/gpu" in str(_pod(emu, "next")))

    deleted = await api.delete_namespaced_pod("web", "default", grace_period_seconds=5)
    assert deleted.metadata.deletion_timestamp is not None
    await emu.store.wait_for(lambda: not _pod(emu, "web"))
    assert not _alive(pid)
    await emu.store.wait_for(lambda: _pod(emu, "next")["spec"].get("nodeName") == "gn1")


async def test_sigkill_after_grace_and_shutdown_kills_children() -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)",
    ]
    async with (
        Emulator(cluster={"nodes": [{"name": "n"}]}) as emu,
        client.ApiClient(client.Configuration(host=emu.url)) as api_client,
    ):
        core = CoreV1Api(api_client)
        await core.create_namespaced_pod("default", pod_manifest("a", stubborn))
        await core.create_namespaced_pod("default", pod_manifest("b", stubborn))
        await emu.store.wait_for(lambda: _phase(emu, "a") == "Running" == _phase(emu, "b"))
        pids = [
            int(_pod(emu, n)["status"]["containerStatuses"][0]["containerID"].split("/")[2])
            for n in ("a", "b")
        ]
        await eventually(lambda: "up" in (emu.kubelet.pod_logs(_pod(emu, "a"), {}) or ""))
        assert (await core.read_namespaced_pod_log("a", "default")) == "up\n"
        await core.delete_namespaced_pod("a", "default", grace_period_seconds=1)
        await emu.store.wait_for(lambda: not _pod(emu, "a"))
        assert not _alive(pids[0])
    assert not _alive(pids[1])


async def test_a_pod_removed_outright_is_killed_at_once_and_its_name_reused(
    emu: Emulator, api: CoreV1Api
) -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)",
    ]
    await api.create_namespaced_pod(
        "default", pod_manifest("lost", stubborn, gpus=1, terminationGracePeriodSeconds=600)
    )
    await emu.store.wait_for(lambda: _phase(emu, "lost") == "Running")
    status = _pod(emu, "lost")["status"]["containerStatuses"][0]
    pid = int(status["containerID"].split("/")[2])
    emu.store.delete("pods", "default", "lost")  # its node is gone: no graceful deletion
    await api.create_namespaced_pod("default", pod_manifest("lost", ["sleep", "60"], gpus=1))
    # Within the wait's 10 s, though the old process ignores SIGTERM and had 600 s of grace.
    await emu.store.wait_for(lambda: _phase(emu, "lost") == "Running")
    assert not _alive(pid)


async def test_events_expire_after_their_ttl(emu: Emulator, api: CoreV1Api) -> None:
    await api.create_namespaced_pod("default", pod_manifest("e", gpus=1))
    await emu.store.wait_for(lambda: _phase(emu, "e") == "Running")
    assert list(emu.store.items("events"))  # Scheduled, Pulled, Started
    assert expire_events(emu.store, ttl=3600) == 0
    old = next(emu.store.items("events"))
    old["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    assert expire_events(emu.store, ttl=3600) == 1
    assert old["metadata"]["name"] not in {e["metadata"]["name"] for e in emu.store.items("events")}


async def test_missing_gpus_annotation(emu: Emulator, api: CoreV1Api) -> None:
    await api.patch_node(
        "gn1", {"metadata": {"annotations": {"twcc.ai/simulate-missing-gpus": "1"}}}
    )
    command = ["sh", "-c", 'nvidia-smi -L > "$KUBE_EMULATOR_TERMINATION_LOG"']
    manifest = pod_manifest("few", command, gpus=2, nodeSelector={"kubernetes.io/hostname": "gn1"})
    await api.create_namespaced_pod("default", manifest)
    await emu.store.wait_for(lambda: _phase(emu, "few") == "Succeeded")
    state = _pod(emu, "few")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["message"].count("GPU ") == 1


async def test_args_without_command_run_as_the_entrypoint_would(
    emu: Emulator, api: CoreV1Api
) -> None:
    # KubeSpawner puts its cmd in args and leaves the image's entrypoint to run it
    manifest = pod_manifest("args-only", gpus=1)
    container = manifest["spec"]["containers"][0]
    del container["command"]
    container["args"] = ["sh", "-c", 'echo "$0" > "$KUBE_EMULATOR_TERMINATION_LOG"', "0.0.0.0"]
    await api.create_namespaced_pod("default", manifest)
    await emu.store.wait_for(lambda: _phase(emu, "args-only") == "Succeeded")
    state = _pod(emu, "args-only")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["message"].strip() == _pod(emu, "args-only")["status"]["podIP"]


async def test_a_container_that_cannot_start_has_a_complete_status(
    emu: Emulator, api: CoreV1Api
) -> None:
    manifest = pod_manifest("missing", ["/nonexistent/jupyterhub-singleuser"], gpus=1)
    await api.create_namespaced_pod("default", manifest)
    await emu.store.wait_for(lambda: _phase(emu, "missing") == "Failed")
    pod = await api.read_namespaced_pod("missing", "default")  # the client's model validates
    (status,) = pod.status.container_statuses
    assert (status.name, status.image, status.restart_count) == (
        "notebook",
        manifest["spec"]["containers"][0]["image"],
        0,
    )
    assert status.state.terminated.exit_code == 128
    assert "nonexistent" in status.state.terminated.message


async def test_init_containers_run_in_order_before_the_main_container(
    emu: Emulator, api: CoreV1Api
) -> None:
    def step(name: str, script: str) -> dict:
        return {
            "name": name,
            "image": "busybox",
            "command": ["sh", "-c", script, name, "/shared/steps"],
            "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
        }

    command = ["sh", "-c", 'cat "$0" > "$1"', "/shared/steps", "/dev/x"]
    manifest = pod_manifest("init", command, gpus=1)
    container = manifest["spec"]["containers"][0]
    container["volumeMounts"] = [{"name": "shared", "mountPath": "/shared"}]
    container["terminationMessagePath"] = "/dev/x"
    manifest["spec"]["volumes"] = [{"name": "shared", "emptyDir": {}}]
    manifest["spec"]["initContainers"] = [
        step("first", 'echo "$0" > "$1"'),
        step("second", 'echo "$0" >> "$1"; echo second ran'),
    ]
    await api.create_namespaced_pod("default", manifest)
    await emu.store.wait_for(lambda: _phase(emu, "init") == "Succeeded")
    pod = await api.read_namespaced_pod("init", "default")  # the client's model validates
    assert [s.state.terminated.exit_code for s in pod.status.init_container_statuses] == [0, 0]
    assert pod.status.container_statuses[0].state.terminated.message == "first\nsecond\n"
    logs = emu.kubelet.pod_logs(_pod(emu, "init"), {"container": "second"})
    assert logs == "second ran\n"


async def test_a_failed_init_container_fails_the_pod_with_its_message(
    emu: Emulator, api: CoreV1Api
) -> None:
    manifest = pod_manifest("broken", ["sh", "-c", "echo main ran"], gpus=1)
    manifest["spec"]["initContainers"] = [
        {
            "name": "copy",
            "image": "busybox",
            "command": ["sh", "-c", 'echo "no such image" > "$0"; exit 4', "/dev/termination-log"],
        }
    ]
    await api.create_namespaced_pod("default", manifest)
    await emu.store.wait_for(lambda: _phase(emu, "broken") == "Failed")
    pod = await api.read_namespaced_pod("broken", "default")
    (init,) = pod.status.init_container_statuses
    assert (init.state.terminated.exit_code, init.state.terminated.message) == (
        4,
        "no such image\n",
    )
    assert not (pod.status.container_statuses or [])
    assert "main ran" not in (emu.kubelet.pod_logs(_pod(emu, "broken"), {}) or "")
