"""The real kubectl and RBAC: ServiceAccount tokens, roles and bindings, can-i and whoami."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from twcc_spawner.simulated.emulator import Emulator

from .conftest import SMALL_CLUSTER, Kubectl

ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: hub-reads-pods, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: ServiceAccount, name: hub, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: node-reader}
rules:
- {apiGroups: [""], resources: [nodes], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: hub-reads-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-reader}
subjects:
- {kind: ServiceAccount, name: hub, namespace: default}
"""


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """Over TLS: kubectl sends bearer tokens to HTTPS servers only."""
    async with Emulator(cluster=SMALL_CLUSTER, tls=True) as emulator:
        yield emulator


def _as_hub(emu: Emulator, tmp_path: Path) -> Kubectl:
    token = emu.service_account_token("default", "hub")
    return Kubectl(emu.write_kubeconfig(tmp_path / "hub-kubeconfig", token))


async def test_admin_can_do_anything_and_says_who_it_is(kubectl: Kubectl) -> None:
    assert (await kubectl("auth", "can-i", "delete", "nodes")).stdout.strip() == "yes"
    assert (await kubectl("auth", "can-i", "*", "*")).stdout.strip() == "yes"
    whoami = await kubectl("auth", "whoami", "-o", "json")
    info = json.loads(whoami.stdout)["status"]["userInfo"]
    assert info["username"] == "kubernetes-admin" and "system:masters" in info["groups"]


async def test_service_account_is_held_to_its_bindings(
    emu: Emulator, kubectl: Kubectl, tmp_path: Path
) -> None:
    hub = _as_hub(emu, tmp_path)
    denied = await hub("get", "pods", check=False)
    assert denied.returncode == 1
    assert (
        'pods is forbidden: User "system:serviceaccount:default:hub" cannot list resource '
        '"pods" in API group "" in the namespace "default"'
    ) in denied.stderr
    await kubectl("apply", "-f", "-", stdin=ROLE)
    await hub("get", "pods")
    await hub("get", "nodes")
    for verb, resource, expected in (
        ("list", "pods", "yes"),
        ("create", "pods", "no"),
        ("get", "pods/p", "yes"),
        ("list", "nodes", "yes"),
        ("delete", "nodes", "no"),
    ):
        answer = await hub("auth", "can-i", verb, resource, check=False)
        assert answer.stdout.strip() == expected, (verb, resource)
    log = await hub("auth", "can-i", "get", "pods", "--subresource=log", check=False)
    assert log.stdout.strip() == "no"
    in_other = await hub("auth", "can-i", "list", "pods", "-n", "kube-system", check=False)
    assert in_other.stdout.strip() == "no"
    refused = await hub("create", "configmap", "x", check=False)
    assert 'cannot create resource "configmaps"' in refused.stderr
    whoami = json.loads((await hub("auth", "whoami", "-o", "json")).stdout)
    assert whoami["status"]["userInfo"]["username"] == "system:serviceaccount:default:hub"


async def test_an_unknown_token_is_unauthorized(emu: Emulator, tmp_path: Path) -> None:
    stranger = Kubectl(emu.write_kubeconfig(tmp_path / "k", "not-a-token"))
    result = await stranger("get", "pods", check=False)
    assert result.returncode == 1
    assert "You must be logged in to the server" in result.stderr


async def test_create_token_authenticates_as_the_service_account(
    emu: Emulator, kubectl: Kubectl, tmp_path: Path
) -> None:
    await kubectl("create", "serviceaccount", "robot")
    token = (await kubectl("create", "token", "robot")).stdout.strip()
    robot = Kubectl(emu.write_kubeconfig(tmp_path / "robot", token))
    whoami = json.loads((await robot("auth", "whoami", "-o", "json")).stdout)
    assert whoami["status"]["userInfo"]["username"] == "system:serviceaccount:default:robot"
