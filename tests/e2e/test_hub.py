"""A real JupyterHub with TWCCSpawner on the emulator, driven through its REST API."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from twcc_spawner.simulated.local_hub import LocalHub

from .conftest import GPU, Cluster, HubApi, eventually, v100_cluster

pytestmark = pytest.mark.e2e

ONE_GPU_CLUSTER = v100_cluster(gpus=1)


def notebook(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def shm_volume(pod: dict[str, Any]) -> dict[str, Any]:
    """The volume mounted at /dev/shm."""
    (mount,) = [m for m in notebook(pod)["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    return volume


def test_rest_spawn_runs_the_release_with_its_gpus_and_stop_frees_them(
    api: HubApi, k8s: Cluster
) -> None:
    response = api.start("alice", release="21.11", gpus=2)
    assert response.status_code in (201, 202), response.text

    pod = eventually(lambda: k8s.pod("jupyter-alice"), what="pod created")
    assert notebook(pod)["image"] == "nvcr.io/nvidia/pytorch:21.11-py3"
    assert notebook(pod)["resources"]["limits"][GPU] == "2"
    assert shm_volume(pod)["emptyDir"]["medium"] == "Memory"

    api.wait_ready("alice")
    status = api.status("alice")
    assert status.status_code == 200, status.text
    assert "started" in status.json()
    node = k8s.pod("jupyter-alice")["spec"]["nodeName"]
    assert k8s.gpus_in_use() == {node: 2}

    assert api.stop("alice").status_code in (202, 204)
    eventually(lambda: k8s.pod("jupyter-alice") is None, what="pod deleted")
    assert k8s.gpus_in_use() == {}
    eventually(lambda: api.servers("alice") == {}, what="server gone from the hub")


def test_one_user_runs_two_named_servers_with_different_releases(api: HubApi, k8s: Cluster) -> None:
    for server, options in (
        ("new", {"release": "22.02", "gpus": 1}),
        ("old", {"release": "19.02", "gpus": 4}),
    ):
        response = api.start("alice", server, **options)
        assert response.status_code in (201, 202), response.text
    for server in ("new", "old"):
        api.wait_ready("alice", server)
        assert api.status("alice", server).status_code == 200

    pods = {n: p for n, p in k8s.pods().items() if n.startswith("jupyter-alice")}
    images = sorted(
        (notebook(p)["image"], notebook(p)["resources"]["limits"][GPU]) for p in pods.values()
    )
    assert images == [
        ("nvcr.io/nvidia/pytorch:19.02-py3-v1", "4"),
        ("nvcr.io/nvidia/pytorch:22.02-py3", "1"),
    ]
    assert sum(k8s.gpus_in_use().values()) == 5


BAD_OPTIONS = [
    ({"release": "21.99", "gpus": 1}, "'21.99'"),
    ({"release": "21.11", "gpus": 3}, "3 GPUs is not offered"),
    ({"release": "21.11", "image": "evil/miner:latest"}, "'image'"),
]


def test_bad_user_options_are_a_400_with_the_reason_and_no_pod(api: HubApi, k8s: Cluster) -> None:
    # one hub for the three cases: starting a hub costs more than the cases
    for options, message in BAD_OPTIONS:
        response = api.start("alice", **options)
        assert response.status_code == 400, (options, response.text)
        assert message in response.json()["message"], options
        assert api.servers("alice") == {}, options
    assert k8s.created == []


@pytest.mark.parametrize("cluster", [ONE_GPU_CLUSTER], indirect=True)
def test_no_free_gpu_fails_fast_with_the_reason_and_leaves_no_pod(
    api: HubApi, k8s: Cluster
) -> None:
    started = time.monotonic()
    response = api.start("alice", release="21.11", gpus=2)
    elapsed = time.monotonic() - started
    # no node could ever take 2 GPUs: refused for good (409), not queued; the
    # scheduler's "0/1 nodes are available" through the watchdog would be a 503
    assert response.status_code in (409, 503), response.text
    message = response.json()["message"]
    assert "gpu" in message.lower(), message
    assert elapsed < 10, f"took {elapsed:.1f} s"  # start_timeout is 60 s

    # the spawn page's event stream says the same
    progress = api.request("GET", "/users/alice/server/progress", stream=True)
    events = [
        json.loads(line[len(b"data:") :])
        for line in progress.iter_lines()
        if line.startswith(b"data:")
    ]
    assert events[-1]["failed"] and message in events[-1]["message"]

    assert k8s.created in ([], ["jupyter-alice"])
    eventually(lambda: k8s.pods() == {}, what="failed pod deleted")
    assert api.servers("alice") == {}


def test_restarted_hub_takes_the_running_server_back(
    hub: LocalHub, api: HubApi, k8s: Cluster
) -> None:
    assert api.start("alice", release="21.11", gpus=1).status_code in (201, 202)
    api.wait_ready("alice")
    uid = k8s.pod("jupyter-alice")["metadata"]["uid"]

    assert hub.stop_hub() == 0
    assert hub.proxy is not None and hub.proxy.running
    assert k8s.pod("jupyter-alice")["status"]["phase"] == "Running"

    hub.start_hub()
    assert api.servers("alice")[""]["ready"]
    assert api.status("alice").status_code == 200
    assert k8s.pod("jupyter-alice")["metadata"]["uid"] == uid
    assert k8s.created == ["jupyter-alice"]


MISSING_GPU_CLUSTER = v100_cluster(annotations={"twcc.ai/simulate-missing-gpus": "1"})


@pytest.mark.parametrize("cluster", [MISSING_GPU_CLUSTER], indirect=True)
def test_a_failed_container_check_ends_the_spawn_with_its_reason(api: HubApi, k8s: Cluster) -> None:
    response = api.start("alice", release="21.11", gpus=2)
    assert response.status_code in (201, 202, 500), response.text

    def failed() -> str | None:
        progress = api.request("GET", "/users/alice/server/progress", stream=True)
        lines = [line for line in progress.iter_lines(decode_unicode=True) if line]
        events = [json.loads(line[len("data:") :]) for line in lines if line.startswith("data:")]
        return next((e["message"] for e in events if e.get("failed")), None)

    message = eventually(failed, 60, "the spawn to fail")
    assert "The container sees 1 GPU(s) but 2 were allocated" in message, message
    eventually(lambda: not k8s.pods(), 30, "the pod to be deleted")
    assert api.servers("alice") == {}


def test_progress_shows_the_checks_inside_the_container(api: HubApi) -> None:
    def pending() -> bool:
        model = api.servers("alice").get("")
        return bool(model and model["pending"] == "spawn")

    with ThreadPoolExecutor(1) as pool:  # the POST waits up to slow_spawn_timeout
        started = pool.submit(api.start, "alice", release="22.02", gpus=1)
        eventually(pending, 30, "the spawn to be pending")
        progress = api.request("GET", "/users/alice/server/progress", stream=True, timeout=90)
        messages = []
        for line in progress.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[len("data:") :])
                messages.append(event.get("message", ""))
                if event.get("ready") or event.get("failed"):
                    break
        assert started.result().status_code in (201, 202)
    steps = [m for m in messages if m.startswith("In the container: ")]
    assert any("[1/4] GPUs: the container sees the 1 allocated GPU(s)" in m for m in steps), (
        messages
    )
    assert any("[4/4] CUDA" in m for m in steps), messages
    assert any(m.startswith("Capacity") for m in messages), messages
