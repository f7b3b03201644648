"""API faults, node loss and hub restarts on a real hub: retried or failed clearly, nothing leaked.

The cluster is one node with 2 GPUs, so a leaked pod or GPU reservation shows
at once: the next 2-GPU spawn would wait in the queue for the capacity check.
"""

from __future__ import annotations

from typing import Any

import pytest

from twcc_spawner.simulated.emulator import FaultRule
from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.hub_settings import HubSettings
from twcc_spawner.simulated.local_hub import LocalHub

from .conftest import Cluster, HubApi, eventually, v100_cluster

pytestmark = pytest.mark.e2e

TWO_GPU_NODE = v100_cluster(gpus=2)
FULL_NODE = {"release": "21.11", "gpus": 2}


@pytest.fixture
def hub_settings(hub_settings: HubSettings) -> HubSettings:
    """Short API retry window and a hub that polls its servers every second."""
    spawner = {**hub_settings.spawner, "k8s_api_request_retry_timeout": 8, "poll_interval": 1}
    return HubSettings(**{**hub_settings.__dict__, "spawner": spawner})


def faults(emulator: ThreadedEmulator) -> Any:
    return emulator.emulator.faults


def spawn_full_node(api: HubApi, k8s: Cluster, server: str = "") -> None:
    """Start a 2-GPU server and wait until it is ready (fails if the spawn fails)."""
    response = api.start("alice", server, **FULL_NODE)
    assert response.status_code in (201, 202), response.text
    api.wait_ready("alice", server)
    assert sum(k8s.gpus_in_use().values()) == 2


def stop_and_check_nothing_left(api: HubApi, k8s: Cluster, server: str = "") -> None:
    """Stop a server; its pod goes, no other object stays behind."""
    if server in api.servers("alice"):
        assert api.stop("alice", server).status_code in (202, 204)
    eventually(lambda: server not in api.servers("alice"), what="server stopped")
    eventually(lambda: k8s.pods() == {}, what="no pod left")
    claims = k8s._read(
        lambda: [
            c["metadata"]["name"]
            for c in k8s.emulator.emulator.store.items("persistentvolumeclaims")
        ]
    )
    assert all(c.startswith("claim-alice") for c in claims), claims  # a home per server


def failed_message(api: HubApi, server: str = "") -> str:
    """The last progress event's message of a failed spawn."""
    path = f"/users/alice/servers/{server}/progress" if server else "/users/alice/server/progress"
    response = api.request("GET", path, stream=True)
    lines = [line for line in response.iter_lines() if line.startswith(b"data:")]
    return lines[-1].decode() if lines else response.text


@pytest.mark.parametrize("cluster", [TWO_GPU_NODE], indirect=True)
def test_api_faults_are_retried_or_fail_clearly_and_leak_nothing(
    hub: LocalHub, api: HubApi, k8s: Cluster, emulator: ThreadedEmulator
) -> None:
    injected = faults(emulator)
    pods = r"^/api/v1/namespaces/default/pods$"
    transient = [  # the PVC first: once it exists, later spawns do not create it
        FaultRule(path=r"persistentvolumeclaims$", method="POST", status=500, times=2),
        FaultRule(path=pods, method="POST", status=500, times=2),
        FaultRule(path=pods, method="POST", status=429, retry_after=1, times=2),
        FaultRule(path=pods, method="POST", status=503, times=1),
        FaultRule(path=pods, method="POST", reset=True, times=2),
        FaultRule(path=pods, method="POST", delay=4.0, times=1),  # past the 3 s request timeout
    ]
    for rule in transient:
        injected.clear()
        injected.add(rule)
        spawn_full_node(api, k8s)
        assert rule.hits == rule.times, rule
        stop_and_check_nothing_left(api, k8s)

    hub_log = (hub.settings.state_dir / "hub.log").read_text()
    assert "API answered 429 Too Many Requests; retrying in 1s" in hub_log

    # refused for good: a clear message, no pod, and the GPUs are free again. A 403 is
    # not retried; a 500 that lasts is retried until the retry window is spent.
    for rule, answer, retried in (
        (FaultRule(path=pods, method="POST", status=403), "403 Forbidden", False),
        (FaultRule(path=pods, method="POST", status=500), "500 Internal Server Error", True),
    ):
        injected.clear()
        injected.add(rule)
        response = api.start("alice", **FULL_NODE)
        if response.status_code == 202:
            eventually(lambda: "" not in api.servers("alice"), timeout=30, what="spawn failed")
            message = failed_message(api)
        else:
            message = response.json()["message"]
        assert (
            f"The cluster refused to create your server's pod ({answer}). Please try again; "
            "if it keeps failing, tell the hub's operators."
        ) in message, message
        assert (rule.hits > 1) is retried, rule
        injected.clear()
        stop_and_check_nothing_left(api, k8s)
    assert "JUPYTERHUB_API_TOKEN" not in (hub.settings.state_dir / "hub.log").read_text()

    spawn_full_node(api, k8s)  # no reservation was leaked by the failures
    stop_and_check_nothing_left(api, k8s)


@pytest.mark.parametrize("cluster", [TWO_GPU_NODE], indirect=True)
@pytest.mark.hub_tracebacks(r"ApiException: \(410\)")  # KubeSpawner's reflector logs each Gone
def test_watch_drops_and_410_gone_relist_and_capacity_stays_right(
    hub: LocalHub, api: HubApi, k8s: Cluster, emulator: ThreadedEmulator
) -> None:
    injected = faults(emulator)
    watches = [
        injected.add(FaultRule(path=r"/pods\?.*watch=(true|True|1)", gone=True, times=6)),
        injected.add(FaultRule(path=r"/nodes\?.*watch=(true|True|1)", drop_watch=True, times=6)),
        injected.add(FaultRule(path=r"/events\?.*watch=(true|True|1)", gone=True, times=3)),
    ]
    spawn_full_node(api, k8s, "first")
    eventually(lambda: all(r.hits == r.times for r in watches), what="watch faults served")

    # the caches saw the running pod through the faults: no room for another GPU, so
    # the next spawn waits in the queue (no pod) instead of starting
    response = api.start("alice", "second", release="21.11", gpus=1)
    assert response.status_code == 202, response.text
    line = api.request("GET", "/twcc/queue").json()["waiting"]
    assert [(r["server"], r["position"], r["reason"]) for r in line] == [("second", 1, "capacity")]
    assert len(k8s.pods()) == 1  # the first server's
    assert api.stop("alice", "second").status_code in (202, 204)
    eventually(lambda: "second" not in api.servers("alice"), what="the wait stopped")

    stop_and_check_nothing_left(api, k8s, "first")
    # ... and saw it go: the whole node is free again
    spawn_full_node(api, k8s, "third")
    stop_and_check_nothing_left(api, k8s, "third")


@pytest.mark.parametrize("cluster", [TWO_GPU_NODE], indirect=True)
def test_a_pod_lost_behind_the_hubs_back_shows_stopped_and_frees_its_gpus(
    api: HubApi, k8s: Cluster, emulator: ThreadedEmulator
) -> None:
    spawn_full_node(api, k8s)

    async def lose_node_pod() -> None:
        emulator.emulator.store.delete("pods", "default", "jupyter-alice")

    emulator.call(lose_node_pod())
    eventually(lambda: "" not in api.servers("alice"), timeout=20, what="server shown stopped")
    spawn_full_node(api, k8s)  # its GPUs count as free
    stop_and_check_nothing_left(api, k8s)
