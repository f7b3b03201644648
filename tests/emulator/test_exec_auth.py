"""RBAC on ``pods/exec``: a WebSocket upgrade needs both ``get`` and ``create`` since 1.35."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from twcc_spawner.simulated.emulator import Emulator

from .conftest import SMALL_CLUSTER, Kubectl
from .test_exec import running, work_pod

ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: exec, namespace: default}}
rules:
- {{apiGroups: [""], resources: [pods], verbs: [get]}}
- {{apiGroups: [""], resources: [pods/exec], verbs: [{verbs}]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: hub-execs, namespace: default}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: exec}}
subjects:
- {{kind: ServiceAccount, name: hub, namespace: default}}
"""


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """Over TLS: kubectl sends bearer tokens to HTTPS servers only."""
    async with Emulator(cluster=SMALL_CLUSTER, tls=True) as emulator:
        yield emulator


async def test_exec_needs_get_and_create_on_pods_exec(
    emu: Emulator, kubectl: Kubectl, tmp_path: Path
) -> None:
    name = await running(emu, kubectl, work_pod("shell", ["sleep", "60"]))
    token = emu.service_account_token("default", "hub")
    hub = Kubectl(emu.write_kubeconfig(tmp_path / "hub-kubeconfig", token))

    await kubectl("apply", "-f", "-", stdin=ROLE.format(verbs="get"))
    denied = await hub("exec", name, "--", "true", check=False)
    assert denied.returncode == 1
    # The refused WebSocket upgrade makes kubectl fall back to SPDY, a POST: "create".
    assert denied.stderr == (
        'error: unable to upgrade connection: pods "shell" is forbidden: User '
        '"system:serviceaccount:default:hub" cannot create resource "pods/exec" in API group ""'
        ' in the namespace "default"\n'
    )

    await kubectl("apply", "-f", "-", stdin=ROLE.format(verbs="create"))
    spdy_only = await hub("exec", name, "--", "true", check=False)
    assert spdy_only.returncode == 1
    assert "SIMULATED: the emulator serves pods/exec over WebSocket" in spdy_only.stderr

    await kubectl("apply", "-f", "-", stdin=ROLE.format(verbs="get, create"))
    assert (await hub("exec", name, "--", "echo", "in")).stdout == "in\n"
    refused = await hub("port-forward", name, ":8000", check=False)
    assert refused.returncode == 1
    assert (
        'cannot create resource "pods/portforward" in API group "" in the namespace "default"'
    ) in refused.stderr
