"""Image locality: prefer warm nodes, say what a cold start costs, show a running pull."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import jupyterhub
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from test_preflight_spawner import cluster, eventually, hub  # noqa: F401 (fixture)

from twcc_spawner.preflight.cluster_state import ClusterState, Usage
from twcc_spawner.preflight.image_locality import (
    MAX_PREFERRED_NODES,
    PREFERENCE_WEIGHT,
    go_duration,
    image_names,
    locality,
    preferred_nodes,
    pull_rate,
    pulled_rate,
    running_pull,
)

IMAGE = "nvcr.io/nvidia/pytorch:21.11-py3"


def node(name: str, gpus: int = 8, images: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": "36", "memory": "768Gi", "nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True"}],
            "images": [{"names": [n], "sizeBytes": 6_400_000_000} for n in images],
        },
    }


def bound_pod(name: str, node_name: str, gpus: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "jhub"},
        "spec": {
            "nodeName": node_name,
            "containers": [{"resources": {"requests": {"nvidia.com/gpu": str(gpus)}}}],
        },
        "status": {"phase": "Running"},
    }


def test_a_pinned_digest_is_listed_without_its_tag() -> None:
    digest = "sha256:" + "a" * 64
    assert image_names(f"nvcr.io/nvidia/pytorch:21.08-py3@{digest}") == {
        f"nvcr.io/nvidia/pytorch:21.08-py3@{digest}",
        f"nvcr.io/nvidia/pytorch@{digest}",
    }
    assert image_names(IMAGE) == {IMAGE}


def test_only_fitting_nodes_that_list_the_image_are_preferred() -> None:
    state = ClusterState()
    state.replace_nodes(
        [
            node("warm-free", images=(IMAGE,)),
            node("warm-full", images=(IMAGE,)),
            node("cold-free"),
            node("warm-other", images=("nvcr.io/nvidia/pytorch:22.02-py3",)),
        ]
    )
    state.replace_pods([bound_pod("p", "warm-full", 8)])
    wanted = Usage(2, 0, 0)
    found = locality(state, set(state.nodes), wanted, IMAGE)
    assert (found.fitting, found.holding) == (3, ("warm-free",))
    assert preferred_nodes(found) == ("warm-free",)


def test_no_preference_when_every_or_no_fitting_node_is_warm() -> None:
    state = ClusterState()
    state.replace_nodes([node("a", images=(IMAGE,)), node("b", images=(IMAGE,)), node("c")])
    everywhere = locality(state, {"a", "b"}, Usage(1, 0, 0), IMAGE)
    nowhere = locality(state, {"c"}, Usage(1, 0, 0), IMAGE)
    assert preferred_nodes(everywhere) == () == preferred_nodes(nowhere)


def test_the_preference_is_capped() -> None:
    state = ClusterState()
    state.replace_nodes([node(f"n{i:03}", images=(IMAGE,)) for i in range(100)] + [node("cold")])
    found = locality(state, set(state.nodes), Usage(1, 0, 0), IMAGE)
    assert len(preferred_nodes(found)) == MAX_PREFERRED_NODES


@pytest.mark.parametrize(
    "text, seconds",
    [("850ms", 0.85), ("1.594s", 1.594), ("1m2.5s", 62.5), ("2h0m1s", 7201.0), ("1x", None)],
)
def test_go_durations(text: str, seconds: float | None) -> None:
    assert go_duration(text) == pytest.approx(seconds) if seconds else go_duration(text) is None


def test_the_pull_rate_comes_from_the_kubelets_pulled_events() -> None:
    pulled = (
        'Successfully pulled image "{image}" in {took} ({took} including waiting). '
        "Image size: {size} bytes."
    )
    messages = [
        pulled.format(image=IMAGE, took="1m4s", size=6_400_000_000),  # 100 MB/s
        pulled.format(image="busybox", took="2s", size=100_000_000),  # 50 MB/s
        pulled.format(image="nginx", took="1s", size=300_000_000),  # 300 MB/s
        'Pulling image "busybox"',
        "Container image already present on machine",
    ]
    assert pulled_rate(messages[0]) == pytest.approx(100e6)
    assert pull_rate(messages) == pytest.approx(100e6)
    assert pull_rate(messages[3:]) is None


def test_a_running_pull_is_the_last_pulling_event_without_an_end() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def event(reason: str, seconds_ago: int, image: str = IMAGE) -> dict[str, Any]:
        when = (now - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")
        return {"reason": reason, "message": f'{reason} image "{image}"', "lastTimestamp": when}

    pull = running_pull([event("Pulling", 40)], IMAGE, 6_400_000_000, 100e6, now)
    assert pull is not None
    assert (pull.elapsed, pull.expected) == (40.0, 64.0)
    done = [event("Pulling", 80), event("Pulled", 10)]
    assert running_pull(done, IMAGE, None, 100e6, now) is None
    other = [event("Pulling", 5, image="busybox")]
    assert running_pull(other, IMAGE, None, 100e6, now) is None


async def _list_images(spawner: Any, nodes: dict[str, list[str]]) -> None:
    """Give nodes a ``status.images`` through the API server, as a kubelet reports them."""
    api = CoreV1Api(ApiClient())
    api.api_client.configuration.host = spawner.emulator_url
    for name, images in nodes.items():
        body = {"status": {"images": [{"names": images, "sizeBytes": 6_400_000_000}]}}
        await api.patch_node_status(name, body)
    await api.api_client.close()


@pytest.fixture
async def warm_hub(hub):  # noqa: F811 (the fixture imported above)
    """A 3-node cluster where only gn2 holds 21.11's image."""
    make = await hub(cluster(nodes=3, gpus=8))

    def spawner(**options: Any) -> Any:
        built = make(**options)
        built.emulator_url = make.emulator.url
        return built

    first = spawner()
    await _list_images(first, {"gn2": [IMAGE]})
    watch = first.cluster_watch()
    await watch.wait_synced(10)
    await eventually(lambda: IMAGE in watch.state.nodes["gn2"].images)
    return spawner


async def test_the_pod_prefers_the_warm_node(warm_hub) -> None:
    spawner = warm_hub(release="21.11", gpus=2)
    await spawner.load_user_options()
    pod = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    preferred = pod["spec"]["affinity"]["nodeAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert preferred == [
        {
            "weight": PREFERENCE_WEIGHT,
            "preference": {
                "matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["gn2"]}
                ]
            },
        }
    ]


async def test_a_release_warm_nowhere_gets_no_preference(warm_hub) -> None:
    spawner = warm_hub(release="21.08", gpus=2)
    await spawner.load_user_options()
    pod = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    node_affinity = pod["spec"]["affinity"]["nodeAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in node_affinity


async def test_the_form_says_where_the_image_is_ready_or_what_a_cold_start_downloads(
    warm_hub,
) -> None:
    spawner = warm_hub(config={"image_pull_rate": 100e6})
    html = await spawner._render_catalog_form(spawner)
    assert "ready on 1 of 3 fitting nodes" in html
    # 21.08's image is on no node: its catalog size at the configured rate.
    assert "the first start downloads ~6.4 GB (≈ 64 s)" in html


async def test_the_progress_page_shows_a_running_pull(hub) -> None:  # noqa: F811
    description = cluster(nodes=1, gpus=8)
    # the server-env image is on the node; 21.11's pulls at 1 MB/s, so it stays running
    description["defaults"]["image_pull_rate"] = 1e6
    description["defaults"]["images"] = [f"twcc-spawner/server-env:{jupyterhub.__version__}"]
    make = await hub(description)
    spawner = make(release="21.11", gpus=2, config={"image_pull_rate": 1e6})
    started = spawner.start()
    try:
        async with asyncio.timeout(60):
            event = await anext(aiter(spawner.pull_progress()))
    finally:
        started.cancel()
        await spawner.stop(now=True)
    message = event["message"]
    assert message.startswith(f"Downloading {IMAGE}: "), message
    # the catalog's 6.4 GB at the configured 1 MB/s
    assert message.endswith(" so far, about 107 min in all for ~6.4 GB"), message
