"""What a container finds in its environment: services, and the GPUs it was granted."""

from __future__ import annotations

import json
import re
from typing import Any

from twcc_spawner.simulated.emulator import Emulator

from .conftest import Kubectl, eventually, pod_manifest
from .test_references import create

# Writes its environment and nvidia-smi's listing to the termination log, then waits.
SHOW = '{ env; echo ---; nvidia-smi -L; } > "$0"; exec sleep 60'


def _pod(emu: Emulator, name: str) -> dict[str, Any]:
    return emu.store.find("pods", "default", name) or {}


def seen(emu: Emulator, name: str) -> tuple[dict[str, str], list[str]]:
    """The environment and nvidia-smi's UUIDs that pod ``name`` saw."""
    text = (emu.kubelet.pod_root(_pod(emu, name)) / "termination-log").read_text()
    env_text, _, listing = text.partition("---\n")
    env = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line)
    return env, re.findall(r"\(UUID: (GPU-[0-9a-f-]+)\)", listing)


def showing(name: str, gpus: int, **spec: Any) -> dict[str, Any]:
    manifest = pod_manifest(name, ["sh", "-c", SHOW, "/dev/termination-log"], gpus=gpus, **spec)
    manifest["spec"]["containers"][0]["env"] = [{"name": "DB_SERVICE_PORT", "value": "own"}]
    return manifest


async def test_service_variables_and_visible_gpus(emu: Emulator, kubectl: Kubectl) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "home-db"},
        "spec": {"ports": [{"name": "sql", "port": 5432}], "selector": {"app": "db"}},
    }
    await create(kubectl, service)
    ip = json.loads((await kubectl("get", "service", "home-db", "-o", "json")).stdout)["spec"][
        "clusterIP"
    ]
    node = {"kubernetes.io/hostname": "gn1"}
    await create(kubectl, showing("a", 1, nodeSelector=node))
    await create(kubectl, showing("b", 1, nodeSelector=node, enableServiceLinks=False))
    for name in ("a", "b"):
        await emu.store.wait_for(
            lambda n=name: _pod(emu, n).get("status", {}).get("phase") == "Running"
        )

    env_a, smi_a = await _wait_seen(emu, "a")
    env_b, smi_b = await _wait_seen(emu, "b")
    assert env_a["HOME_DB_SERVICE_HOST"] == ip
    assert env_a["HOME_DB_SERVICE_PORT"] == env_a["HOME_DB_SERVICE_PORT_SQL"] == "5432"
    assert env_a["HOME_DB_PORT"] == env_a["HOME_DB_PORT_5432_TCP"] == f"tcp://{ip}:5432"
    assert env_a["HOME_DB_PORT_5432_TCP_ADDR"] == ip
    assert "HOME_DB_SERVICE_HOST" not in env_b  # enableServiceLinks: false
    assert env_a["DB_SERVICE_PORT"] == "own"  # the container's own env wins
    for env in (env_a, env_b):  # the API server, whatever the links
        assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == (
            emu.host,
            str(emu.port),
        )
    # each pod sees only its own GPU, named alike by the device plugin and nvidia-smi
    assert env_a["NVIDIA_VISIBLE_DEVICES"].split(",") == smi_a
    assert env_b["NVIDIA_VISIBLE_DEVICES"].split(",") == smi_b
    assert len(smi_a) == len(smi_b) == 1 and smi_a != smi_b

    await kubectl("delete", "pod", "a", "--wait=false")
    await emu.store.wait_for(lambda: not _pod(emu, "a"))
    await create(kubectl, showing("c", 1, nodeSelector=node))
    await emu.store.wait_for(lambda: _pod(emu, "c").get("status", {}).get("phase") == "Running")
    _, smi_c = await _wait_seen(emu, "c")
    assert smi_c == smi_a  # a freed GPU is handed out again


async def _wait_seen(emu: Emulator, name: str) -> tuple[dict[str, str], list[str]]:
    """What pod ``name`` saw, once it wrote it."""

    def written() -> tuple[dict[str, str], list[str]] | None:
        found = seen(emu, name)
        return found if found[1] else None

    return await eventually(written)
