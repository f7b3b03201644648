"""Quotas under concurrency, no leakage between spawns, secrets kept out of logs."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from twcc_spawner.simulated.emulator import FaultRule
from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.hub_settings import HubSettings
from twcc_spawner.simulated.local_hub import LocalHub

from .conftest import GPU, Cluster, HubApi, eventually
from .reliability import PodRecorder, check_pod_in_catalog

pytestmark = pytest.mark.e2e

QUOTA = 2


@pytest.fixture
def hub_settings(hub_settings: HubSettings) -> HubSettings:
    """Every user may hold 2 GPUs."""
    spawner = {**hub_settings.spawner, "gpu_quota": QUOTA}
    return HubSettings(**{**hub_settings.__dict__, "spawner": spawner})


def test_twenty_parallel_spawns_stay_within_the_gpu_quota(
    api: HubApi, k8s: Cluster, emulator: ThreadedEmulator
) -> None:
    recorder = PodRecorder(emulator)
    names = [f"q{i}" for i in range(20)]
    with ThreadPoolExecutor(len(names)) as pool:
        answers = list(pool.map(lambda n: api.start("alice", n, release="22.02", gpus=1), names))
    codes = [a.status_code for a in answers]
    admitted = [n for n, a in zip(names, answers, strict=True) if a.status_code in (201, 202)]
    assert len(admitted) == QUOTA, codes
    refused = [a for a in answers if a.status_code not in (201, 202)]
    assert {a.status_code for a in refused} <= {403, 429}, codes
    assert all("would exceed it" in a.json()["message"] for a in refused), [a.text for a in refused]
    for name in admitted:
        api.wait_ready("alice", name)
    held = sum(
        int(p["spec"]["containers"][0]["resources"]["limits"][GPU]) for p in recorder.created
    )
    assert held <= QUOTA, [p["metadata"]["name"] for p in recorder.created]
    assert sorted(api.servers("alice")) == sorted(admitted)
    for name in admitted:
        api.stop("alice", name)
    eventually(lambda: k8s.pods() == {}, what="pods deleted")
    print("reliability: quota", json.dumps({"requests": len(names), "codes": sorted(codes)}))


def comparable(pod: dict[str, Any]) -> dict[str, Any]:
    """What a spawn's settings decide in a pod, without the user's and server's names."""
    spec = pod["spec"]
    notebook = spec["containers"][0]
    return {
        "image": notebook["image"],
        "resources": notebook["resources"],
        "env": sorted(
            (e["name"], e.get("value"))
            for e in notebook.get("env", [])
            if e["name"].startswith("TWCC")
        ),
        # the image-locality preference follows where images are now, not the settings
        "required_affinity": (spec.get("affinity") or {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution"),
        "nodeSelector": spec.get("nodeSelector"),
        "tolerations": spec.get("tolerations"),
        "shm": [v for v in spec["volumes"] if v["name"] == "twcc-dshm"],
        "labels": {k: v for k, v in pod["metadata"]["labels"].items() if k.startswith("twcc.ai/")},
    }


def test_a_failed_gpu_spawn_leaves_nothing_for_the_next_one(
    api: HubApi, k8s: Cluster, emulator: ThreadedEmulator
) -> None:
    recorder = PodRecorder(emulator)
    api.create_user("bob")
    # alice's 2-GPU spawn of an old release gets past the preflight, then its pod is refused
    rule = emulator.emulator.faults.add(
        FaultRule(path=r"/namespaces/default/pods$", method="POST", status=403, times=1)
    )
    failed = api.start("alice", release="19.02", gpus=2)
    if failed.status_code == 202:
        eventually(lambda: "" not in api.servers("alice"), what="spawn failed")
    else:
        assert failed.status_code >= 400, failed.text
    assert rule.hits == 1 and recorder.created == []

    for user in ("alice", "bob"):  # alice after the failure, bob fresh
        response = api.start(user, release="22.02", gpus=1)
        assert response.status_code in (201, 202), response.text
        api.wait_ready(user)
    alice, bob = (k8s.pod(f"jupyter-{u}") for u in ("alice", "bob"))
    assert comparable(alice) == comparable(bob)
    assert check_pod_in_catalog(alice) == ("22.02", "c.super")
    for user in ("alice", "bob"):
        api.stop(user)
    eventually(lambda: k8s.pods() == {}, what="pods deleted")


def secrets_of(hub: LocalHub, pods: list[dict[str, Any]]) -> dict[str, str]:
    """Every secret the hub knows of, by what it is."""
    settings = hub.settings
    found = {
        "admin service token": settings.admin_token or "",
        "proxy auth token": settings.proxy_auth_token,
        "login password": settings.password,
    }
    for pod in pods:
        for container in pod["spec"]["containers"]:
            for env in container.get("env", []):
                if env["name"] in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"):
                    found[f"{pod['metadata']['name']} API token"] = env["value"]
    return {what: value for what, value in found.items() if value}


# the injected 500 on pod create is refused with a 503, which JupyterHub 5.x logs
@pytest.mark.hub_tracebacks(r"^twcc_spawner\.refusal\.SpawnRefusal: 503 .*refused to create")
def test_secrets_never_reach_logs_or_progress(
    hub: LocalHub, api: HubApi, k8s: Cluster, emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    recorder = PodRecorder(emulator)
    progress: list[str] = []
    # a good spawn, a refused one, one whose pod the API refuses, one that cannot fit
    for server, options, fault in (
        ("ok", {"release": "21.11", "gpus": 1}, None),
        ("bad", {"release": "21.11", "image": "x"}, None),
        ("api", {"release": "22.02", "gpus": 1}, 500),
        ("big", {"release": "22.02", "gpus": 8}, None),
    ):
        emulator.emulator.faults.clear()
        if fault:
            emulator.emulator.faults.add(
                FaultRule(path=r"/namespaces/default/pods$", method="POST", status=fault)
            )
        response = api.start("alice", server, **options)
        progress.append(response.text)
        if response.status_code in (201, 202):
            path = f"/users/alice/servers/{server}/progress"
            progress.append(api.request("GET", path).text)
    emulator.emulator.faults.clear()
    api.wait_ready("alice", "ok")
    assert recorder.created, "no pod was created"

    texts = {"progress": "\n".join(progress)}
    for log in (hub.settings.state_dir).glob("*.log"):
        texts[log.name] = log.read_text(errors="replace")
    for log in (tmp_path / "emulator").glob("pods/*/log*"):
        texts[f"pod {log.parent.name} {log.name}"] = log.read_text(errors="replace")
    leaks = [
        (what, where)
        for what, secret in secrets_of(hub, recorder.created).items()
        for where, text in texts.items()
        if secret in text
    ]
    assert leaks == []
    assert len(secrets_of(hub, recorder.created)) >= 4
