"""CLI, background-thread mode, kubeconfig and fault injection."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiException

from twcc_spawner.simulated.emulator import Emulator, FaultRule


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twcc_spawner.simulated.emulator",
            "--port",
            "0",
            "--kubeconfig",
            kubeconfig,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "ready at http://127.0.0.1:" in line
        written = yaml.safe_load(kubeconfig.read_text())
        assert written["current-context"] == "twcc-emulator"
        assert written["clusters"][0]["cluster"]["server"] == line.split()[-1]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert "SIMULATED Kubernetes cluster" in process.stderr.read()


async def test_in_thread_and_kubeconfig(tmp_path: Path) -> None:
    with Emulator.in_thread() as threaded:
        path = threaded.write_kubeconfig(tmp_path / "config")
        configuration = client.Configuration()
        await config.load_kube_config(str(path), client_configuration=configuration)
        async with client.ApiClient(configuration) as api_client:
            nodes = await client.CoreV1Api(api_client).list_node()
    assert [n.metadata.labels["twcc.ai/simulated"] for n in nodes.items] == ["true"] * 3
    assert nodes.items[0].status.allocatable["nvidia.com/gpu"] == "8"


async def test_fault_injection(emu: Emulator, api: client.CoreV1Api) -> None:
    rule = emu.faults.add(FaultRule(method="GET", path="/pods", status=503, times=1))
    with pytest.raises(ApiException) as info:
        await api.list_namespaced_pod("default")
    assert info.value.status == 503 and rule.hits == 1
    assert (await api.list_namespaced_pod("default")).items == []
