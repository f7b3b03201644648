"""The real kubectl against the emulator: discovery, tables, health, protobuf bodies, waits."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import ClientSession

from twcc_spawner.simulated.emulator import Emulator

from .conftest import IGNORES_SIGTERM, Kubectl, eventually, pod_manifest

DEPLOY = Path(__file__).parents[2] / "deploy" / "kubernetes"


async def test_kubectl_lists_nodes(kubectl: Kubectl) -> None:
    result = await kubectl("get", "nodes", "-o", "name")
    assert result.stdout.split() == ["node/gn1", "node/gn2"]


async def test_short_names_and_kinds_of_every_group(kubectl: Kubectl) -> None:
    for short in ("po", "no", "pvc", "cm", "ns", "sa", "ev", "svc", "ds", "deploy", "pdb", "pc"):
        await kubectl("get", short)
    names = (await kubectl("get", "sa", "-o", "name")).stdout.split()
    assert names == ["serviceaccount/default"]
    resources = (await kubectl("api-resources", "-o", "name")).stdout.split()
    for wanted in (
        "roles.rbac.authorization.k8s.io",
        "clusterrolebindings.rbac.authorization.k8s.io",
        "daemonsets.apps",
        "networkpolicies.networking.k8s.io",
        "poddisruptionbudgets.policy",
        "priorityclasses.scheduling.k8s.io",
    ):
        assert wanted in resources


async def test_category_all_lists_pods_and_services(kubectl: Kubectl) -> None:
    await kubectl("create", "-f", "-", stdin=json.dumps(pod_manifest("p")))
    result = await kubectl("get", "all", "-o", "name")
    assert "pod/p" in result.stdout.split()


async def test_apply_the_shipped_manifests(kubectl: Kubectl) -> None:
    """``kubectl apply -f deploy/kubernetes/``: RBAC, DaemonSet and ConfigMap are stored."""
    await kubectl("create", "namespace", "jhub")
    result = await kubectl("apply", "-f", str(DEPLOY))
    assert "daemonset.apps/" in result.stdout and "clusterrole.rbac" in result.stdout
    listed = await kubectl("get", "ds,cm,roles,rolebindings,sa", "-n", "jhub", "-o", "name")
    kinds = {line.split("/")[0] for line in listed.stdout.split()}
    assert {"daemonset.apps", "configmap"} <= kinds
    again = await kubectl("apply", "-f", str(DEPLOY))
    assert "unchanged" in again.stdout


async def test_health_endpoints(emu: Emulator, kubectl: Kubectl) -> None:
    for path in ("/healthz", "/readyz", "/livez", "/readyz?verbose"):
        result = await kubectl("get", "--raw", path)
        assert result.stdout.startswith("ok")


async def test_tables_have_kube_apiserver_columns(emu: Emulator, kubectl: Kubectl) -> None:
    await kubectl("create", "-f", "-", stdin=json.dumps(pod_manifest("g", gpus=1)))
    await emu.store.wait_for(
        lambda: emu.store.get("pods", "default", "g")["status"]["phase"] == "Running"
    )
    pods = (await kubectl("get", "pods")).stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1].split()[:4] == ["g", "1/1", "Running", "0"]
    wide = (await kubectl("get", "pods", "-o", "wide")).stdout.splitlines()
    assert wide[0].split()[5:7] == ["IP", "NODE"]
    assert wide[1].split()[6] in ("gn1", "gn2")
    nodes = (await kubectl("get", "nodes")).stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1].split()[1] == "Ready"
    events = (await kubectl("get", "events")).stdout.splitlines()
    assert events[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("pod/g" in line and "Scheduled" in line for line in events[1:])


async def test_protobuf_bodies_are_decoded(emu: Emulator, kubectl: Kubectl) -> None:
    """kubectl sends these as protobuf; each must arrive intact."""
    await kubectl("create", "namespace", "lab")
    await kubectl("create", "secret", "generic", "s", "--from-literal=k=v", "-n", "lab")
    await kubectl("create", "configmap", "c", "--from-literal=k=v", "-n", "lab")
    assert emu.store.get("secrets", "lab", "s")["data"] == {"k": "dg=="}
    assert emu.store.get("configmaps", "lab", "c")["data"] == {"k": "v"}
    assert emu.store.get("namespaces", "", "lab")["status"]["phase"] == "Active"


async def test_drain_evicts_through_protobuf(emu: Emulator, kubectl: Kubectl) -> None:
    await kubectl("create", "-f", "-", stdin=json.dumps(pod_manifest("d", gpus=1)))
    node = await emu.store.wait_for(
        lambda: emu.store.get("pods", "default", "d")["spec"].get("nodeName")
    )
    await kubectl("drain", node, "--force", "--timeout=60s")
    assert emu.store.find("pods", "default", "d") is None
    assert emu.store.get("nodes", "", node)["spec"]["unschedulable"] is True


async def test_delete_wait_returns_once_the_pod_is_gone(emu: Emulator, kubectl: Kubectl) -> None:
    """kubectl 1.37 waits with a WatchList watch (sendInitialEvents) on the pod's name."""
    # it ignores SIGTERM, so it stays for its 2 s of grace: kubectl always finds it to wait for
    pod = pod_manifest("w", IGNORES_SIGTERM, gpus=1)
    await kubectl("create", "-f", "-", stdin=json.dumps(pod))
    # Running, and past installing its handler (the log is written without a store write)
    await eventually(
        lambda: (
            "ignoring SIGTERM"
            in (emu.kubelet.pod_logs(emu.store.get("pods", "default", "w"), {}) or "")
        ),
        timeout=30,
    )
    emu.server.requests.clear()
    await kubectl("delete", "pod", "w", "--wait", "--timeout=60s")
    assert emu.store.find("pods", "default", "w") is None
    watches = [r.path for r in emu.server.requests if "watch=true" in r.path]
    assert watches and all("fieldSelector=metadata.name%3Dw" in w for w in watches)


async def test_get_watch_streams_table_rows(emu: Emulator, kubectl: Kubectl) -> None:
    result = await kubectl("get", "nodes", "--watch", "--request-timeout=2s", check=False)
    assert result.stdout.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]


async def test_health_without_kubectl(emu: Emulator) -> None:
    async with ClientSession() as http:
        for path in ("/healthz", "/livez", "/readyz"):
            async with http.get(emu.url + path) as response:
                assert response.status == 200 and await response.text() == "ok"
