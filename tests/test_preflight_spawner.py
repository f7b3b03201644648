"""TWCCSpawner's preflight against the emulator: refusals, no over-commit, RBAC, watch drops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import make_user
from jupyterhub.objects import Server
from kubernetes_asyncio.client import ApiClient
from kubespawner import KubeSpawner

import twcc_spawner.spawner
from twcc_spawner import TWCCSpawner
from twcc_spawner.refusal import SpawnRefusal
from twcc_spawner.simulated.emulator import Emulator, FaultRule

V100 = {"product": "Tesla-V100-SXM2-32GB", "family": "volta", "compute": "7.0"}
TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def cluster(nodes: int = 2, gpus: int = 8, driver: str = "510.47.03", **gpu: Any) -> dict:
    return {
        "defaults": {
            "cpu": "36",
            "memory": "768Gi",
            "gpu": {**V100, "count": gpus, "driver": driver, **gpu},
            "taints": [TAINT],
        },
        "nodes": [{"name": f"gn{i}"} for i in range(nodes)],
    }


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Wait for state the hub's watch updates (outside the emulator's store)."""
    async with asyncio.timeout(timeout):
        while not (result := predicate()):
            await asyncio.sleep(0.02)
        return result


@pytest.fixture
async def hub(profiles_dir: Path) -> AsyncIterator[Callable[..., Any]]:
    """``hub(cluster)`` starts an emulator and returns a factory of spawners on it."""
    emulators: list[Emulator] = []

    async def start(description: dict) -> Callable[..., TWCCSpawner]:
        emulator = Emulator(cluster=description)
        await emulator.start()
        emulators.append(emulator)

        def spawner(name: str = "alice", groups: tuple[str, ...] = (), **options: Any) -> Any:
            config = options.pop("config", {})
            built = TWCCSpawner(
                _mock=True,
                user=make_user(name, groups),
                k8s_api_host=emulator.url,
                profiles_dir=str(profiles_dir),
                **config,
            )
            built.user_options = options
            return built

        spawner.emulator = emulator  # type: ignore[attr-defined]
        return spawner

    yield start
    await TWCCSpawner.stop_cluster_watch()
    for reflector in KubeSpawner.reflectors.values():
        await reflector.stop()
    KubeSpawner.reflectors.clear()
    for emulator in emulators:
        await emulator.stop()
    TWCCSpawner._catalog_sources.clear()


async def refusal(spawner: TWCCSpawner) -> SpawnRefusal:
    with pytest.raises(SpawnRefusal) as info:
        await spawner.start()
    assert info.value.jupyterhub_message == info.value.log_message
    return info.value


@pytest.mark.parametrize(
    "description, options, config, check, status, message",
    [
        pytest.param(
            cluster(nodes=2, gpus=1),
            {"release": "22.02", "gpus": 2},
            {},
            "capacity",
            409,
            "No suitable node is large enough for size c.xsuper (2 GPUs, 8 CPU cores, 180G "
            "memory) even when empty; the largest has 1 GPU. Pick 1 GPU.",
            id="capacity-never",
        ),
        pytest.param(
            cluster(driver="455.32.00"),
            {"release": "22.02", "gpus": 1},
            {},
            "driver",
            409,
            "PyTorch 22.02 needs NVIDIA driver 510 or later (or a data-center driver 418.40+, "
            "440.33+, 450.51+, 460.27+, 470.57+); the GPU nodes have driver 455.32.00 (2 nodes). "
            "Pick PyTorch 20.11, 20.08 or 20.06.",
            id="driver",
        ),
        pytest.param(
            cluster(product="H100-SXM5-80GB", family="hopper", compute="9.0"),
            {"release": "21.08", "gpus": 1},
            {},
            "architecture",
            409,
            "PyTorch 21.08 supports Pascal, Volta, Turing, Ampere GPUs; the GPU nodes have "
            "Hopper (H100-SXM5-80GB). No PyTorch release offered to you runs on them; "
            "tell the hub's operators.",
            id="architecture",
        ),
        pytest.param(
            cluster(),
            {"release": "22.02", "gpus": 4},
            {"gpu_quota": 8, "gpu_quota_by_group": {"students": 2}},
            "quota",
            403,
            "You hold 0 of your 2 GPUs; 4 more would exceed it. Pick 1 or 2 GPUs or stop a server.",
            id="quota",
        ),
    ],
)
async def test_refusal_reaches_the_spawn_page_and_creates_nothing(
    hub, description, options, config, check, status, message
) -> None:
    make = await hub(description)
    error = await refusal(make(groups=("students",), config=config, **options))
    assert (error.reason, error.status_code, error.jupyterhub_message) == (check, status, message)
    requests = list(make.emulator.server.requests)
    assert any(r.path.startswith("/api/v1/nodes") for r in requests)  # the log saw the watch
    writes = [r for r in requests if r.method not in ("GET", "HEAD")]
    assert writes == []  # no PVC, no pod, no event: no call that changes the cluster


async def test_access_refusal_does_not_reveal_restricted_releases(hub, profiles_dir) -> None:
    path = profiles_dir / "releases.yaml"
    document = yaml.safe_load(path.read_text())
    document["releases"][1]["groups"] = ["pilot"]  # 21.11
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    make = await hub(cluster(driver="495.29.05"))
    error = await refusal(make(release="21.11"))
    unknown = await refusal(make(release="99.99"))
    assert (error.reason, error.status_code) == ("invalid_selection", 400)
    assert error.jupyterhub_message.replace("'21.11'", "'99.99'") == unknown.jupyterhub_message
    driver = await refusal(make(release="22.02"))
    assert driver.jupyterhub_message.endswith("Pick PyTorch 21.08, 21.06 or 21.02.")


async def test_checks_are_progress_events_and_the_pod_gets_their_affinity(hub) -> None:
    make = await hub(cluster())
    spawner = make(release="21.08", gpus=2)
    await spawner.load_user_options()
    messages = [e["message"] async for e in spawner.preflight_progress()]
    assert messages == [
        "PyTorch 21.08 / 2 GPUs is offered to you.",
        "No GPU quota applies to you.",
        "Driver: GPU nodes with a driver for PyTorch 21.08.",
        "GPU: nodes with a GPU PyTorch 21.08 supports.",
        "Capacity: 2 GPUs held for you on one of 2 suitable nodes.",
    ]
    pod = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    first = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": "nvidia.com/cuda.driver-version.major", "operator": "Gt", "values": ["469"]} in (
        first
    )
    spawner.release_gpus()


async def test_simultaneous_spawns_never_overcommit_without_the_queue(hub) -> None:
    make = await hub(cluster(nodes=5))  # 40 GPUs
    no_queue = {"queue_enabled": False}
    spawners = [make(f"user{i}", release="22.02", gpus=2, config=no_queue) for i in range(50)]
    results = await asyncio.gather(
        *(s.load_user_options() for s in spawners), return_exceptions=True
    )
    admitted = [r for r in results if r is None]
    refused = [r for r in results if isinstance(r, SpawnRefusal)]
    assert (len(admitted), len(refused)) == (20, 30)
    assert {r.reason for r in refused} == {"capacity"}
    state = TWCCSpawner._cluster_watch.state
    assert sum(r.usage.gpus for r in state.reservations.values()) == 40
    for spawner in spawners:
        spawner.release_gpus()
    assert state.reservations == {}


async def test_a_reservation_lasts_until_the_pod_is_bound_or_the_spawn_fails(hub) -> None:
    make = await hub(cluster(nodes=1, gpus=2))
    alice = make("alice", release="22.02", gpus=2)
    await alice.load_user_options()
    state = TWCCSpawner._cluster_watch.state
    assert list(state.reservations) == ["default/jupyter-alice"]
    bob = make("bob", release="22.02", gpus=1, config={"queue_enabled": False})
    assert (await refusal(bob)).reason == "capacity"

    pod = ApiClient().sanitize_for_serialization(await alice.get_pod_manifest())
    pod["spec"]["containers"][0]["command"] = ["sleep", "60"]  # stays running while we look
    await alice.api.create_namespaced_pod(
        "default", {**pod, "spec": {**pod["spec"], "nodeName": "gn0"}}
    )
    await eventually(lambda: not state.reservations)  # the bound pod holds the GPUs now
    assert state.free("gn0").gpus == 0
    make.emulator.store.delete("pods", "default", "jupyter-alice")
    await eventually(lambda: state.free("gn0").gpus == 2)

    make.emulator.faults.add(FaultRule(path=r"/pods$", method="POST", status=500))
    carol = make("carol", release="22.02", gpus=2, config={"k8s_api_request_retry_timeout": 1})
    error = await refusal(carol)  # the API kept failing past the retry window
    assert (error.reason, error.status_code) == ("api_refused", 503)
    assert error.jupyterhub_message.startswith(
        "The cluster refused to create your server's pod (500 Internal Server Error)."
    )
    assert state.reservations == {}


async def test_forbidden_nodes_and_pods_skip_checks_and_warn_once(hub, caplog) -> None:
    make = await hub(cluster(nodes=1, gpus=1))
    make.emulator.faults.add(FaultRule(path=r"^/api/v1/(nodes|pods)", status=403))
    caplog.set_level(logging.WARNING)
    for name in ("alice", "bob"):
        spawner = make(name, release="22.02", gpus=1, config={"gpu_quota": 1})
        await spawner.load_user_options()  # admitted: nothing to check capacity with
        messages = [e["message"] async for e in spawner.preflight_progress()]
        assert "Capacity check skipped: the hub cannot read nodes" in messages[-1]
    warnings = [r.getMessage() for r in caplog.records if "forbidden (403)" in r.getMessage()]
    assert len(warnings) == 2  # one for nodes, one for cluster-wide pods: each once
    assert "ClusterRole" in warnings[0]
    assert TWCCSpawner._cluster_watch.pods_scope == "namespace default"  # quota still works


async def test_the_cache_recovers_after_a_watch_drop(hub) -> None:
    make = await hub(cluster(nodes=2))
    spawner = make(release="22.02", gpus=8)
    await spawner.load_user_options()
    spawner.release_gpus()
    state = TWCCSpawner._cluster_watch.state
    store = make.emulator.store
    make.emulator.faults.add(FaultRule(path=r"^/api/v1/nodes\?.*watch", drop_watch=True, times=2))
    for name in ("gn0", "gn1"):
        node = store.get("nodes", "", name)
        node["spec"]["unschedulable"] = True
        store.update("nodes", node)
    await eventually(lambda: not any(info.schedulable for info in state.nodes.values()))
    error = await refusal(make(release="22.02", gpus=1))
    assert error.reason == "capacity"


async def test_the_cache_lists_in_pages(hub) -> None:
    make = await hub(cluster(nodes=5, gpus=1))
    config = {"preflight_list_page_size": 2}
    await make(release="22.02", gpus=1, config=config).load_user_options()
    assert sorted(TWCCSpawner._cluster_watch.state.nodes) == [f"gn{i}" for i in range(5)]
    lists = [
        r.path
        for r in make.emulator.server.requests
        if r.path.startswith(("/api/v1/nodes?", "/api/v1/pods?")) and "watch" not in r.path
    ]
    assert all("limit=2" in path for path in lists)
    nodes = [path for path in lists if path.startswith("/api/v1/nodes")]
    assert len(nodes) == 3 and sum("continue=" in path for path in nodes) == 2


async def test_the_form_marks_what_cannot_start_for_each_release_and_size(hub) -> None:
    # Driver 495: 22.02 (510+) cannot run, 21.11 can; 4 GPUs per node: 8 never fit.
    spawner = (await hub(cluster(nodes=2, gpus=4, driver="495.29.05")))()
    availability = await spawner.form_availability()
    catalog = spawner.catalog()
    cell = {
        (r.release, s.name): availability(r, s)
        for r in catalog.releases_for(frozenset())
        for s in catalog.sizes_for(frozenset())
    }
    assert cell["22.02", "c.super"] == "driver"
    assert cell["21.11", "c.super"] is None
    assert cell["21.11", "c.2xsuper"] is None
    assert cell["21.11", "c.4xsuper"] == "too_large"
    assert cell["18.08", "c.4xsuper"] == "too_large"
    assert {cell[r, "c.super"] for r, _ in cell if r != "22.02"} == {None}


async def test_a_capped_dev_shm_fails_the_spawn_with_the_start_scripts_reason(hub) -> None:
    """The start script's /dev/shm check, as a failed spawn: an operator's pod hook (as a
    namespace policy would) caps the memory volume below what the size promises."""

    def cap_shm(spawner: TWCCSpawner, pod: Any) -> Any:
        (shm,) = [v for v in pod.spec.volumes if v.name == "twcc-dshm"]
        shm.empty_dir.size_limit = "64Mi"
        return pod

    make = await hub(cluster(nodes=1))
    spawner = make(release="22.02", gpus=1, config={"modify_pod_hook": cap_shm})
    spawner.server = Server(base_url="/user/alice/")  # as the hub sets it before a start
    error = await refusal(spawner)
    reason = (
        "/dev/shm is 64 MiB but PyTorch 22.02 / 1 GPU needs 16G (PyTorch DataLoader workers use it)"
    )
    assert (error.reason, error.status_code) == ("container_failed", 500)
    assert error.jupyterhub_message == (
        f"The main container 'notebook' exited with code 1: {reason}"
    )
    store = make.emulator.store
    pod = store.get("pods", "default", "jupyter-alice")
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"].strip() == reason
    await spawner.stop(now=True)  # what the hub does with a failed spawn
    await make.emulator.store.wait_for(
        lambda: store.find("pods", "default", "jupyter-alice") is None
    )
    assert TWCCSpawner._cluster_watch.state.reservations == {}


def fast_pulls(description: dict) -> dict:
    """``description`` with nodes that pull a 6 GB image in 60 ms."""
    description["defaults"]["image_pull_rate"] = 100e9
    return description


def ready_at_once(spawner: TWCCSpawner, pod: Any) -> Any:
    """A container that marks itself ready (the start script's marker) and then waits."""
    pod.spec.containers[0].command = ["sh", "-c", ': > "$TWCC_READY_FILE"; exec sleep 600']
    pod.spec.containers[0].args = None
    return pod


async def test_the_start_ends_when_the_created_pod_is_ready(hub) -> None:
    make = await hub(fast_pulls(cluster(nodes=1)))
    spawner = make(release="22.02", gpus=1, config={"modify_pod_hook": ready_at_once})
    spawner.server = Server(base_url="/user/alice/")
    url = await spawner.start()
    pod = make.emulator.store.get("pods", "default", "jupyter-alice")
    assert spawner.pod_id == spawner.created_pod_uid == pod["metadata"]["uid"]
    assert url == f"http://{pod['status']['podIP']}:8888"
    assert pod["status"]["containerStatuses"][0]["ready"]
    await spawner.stop(now=True)


async def test_an_after_pod_created_hook_runs_to_its_end_before_the_start_ends(
    hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KubeSpawner's start runs the hook after the create: it is never cut short, not even
    when the pod is ready while the hook still runs."""
    monkeypatch.setattr(twcc_spawner.spawner, "READY_LOOK_SECONDS", 0)  # look at every turn
    finished: list[str] = []

    async def hook(spawner: TWCCSpawner, pod: Any) -> None:
        key = "default/jupyter-alice"
        await eventually(lambda: spawner.is_pod_running(spawner.pod_reflector.pods.get(key)))
        for _ in range(10):  # turns of the loop in which a look would find it ready
            await asyncio.sleep(0)
        finished.append(pod["metadata"]["name"])

    make = await hub(fast_pulls(cluster(nodes=1)))
    config = {"modify_pod_hook": ready_at_once, "after_pod_created_hook": hook}
    spawner = make(release="22.02", gpus=1, config=config)
    spawner.server = Server(base_url="/user/alice/")
    await spawner.start()
    assert finished == ["jupyter-alice"]
    await spawner.stop(now=True)
