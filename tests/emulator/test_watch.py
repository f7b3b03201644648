"""Watch replay, filtering, timeout and 410 Gone; KubeSpawner's reflector on top."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client import ApiException, CoreV1Api

from twcc_spawner.simulated.emulator import Emulator

from .conftest import SMALL_CLUSTER, eventually, pod_manifest


async def _config_map(api: CoreV1Api, name: str, labels: dict[str, str] | None = None) -> str:
    body = {"metadata": {"name": name, "labels": labels or {}}}
    created = await api.create_namespaced_config_map("default", body)
    return created.metadata.resource_version


async def _replay(
    list_fn: Any, selector: str, start: str, bookmarks: bool = False
) -> list[dict[str, Any]]:
    """The events a one-second watch of ``default`` from ``start`` replays."""
    async with watch.Watch().stream(
        list_fn,
        "default",
        label_selector=selector,
        resource_version=start,
        timeout_seconds=1,
        allow_watch_bookmarks=bookmarks,
    ) as stream:
        return [event async for event in stream]


async def test_watch_replays_history_and_times_out(api: CoreV1Api) -> None:
    start = await _config_map(api, "a", {"w": "1"})
    await _config_map(api, "b", {"w": "1"})
    await _config_map(api, "c")
    await api.patch_namespaced_config_map("b", "default", {"data": {"k": "v"}})
    await api.delete_namespaced_config_map("b", "default")
    seen = await _replay(api.list_namespaced_config_map, "w=1", start, bookmarks=True)
    assert [(e["type"], e["raw_object"]["metadata"]["name"]) for e in seen] == [
        ("ADDED", "b"),
        ("MODIFIED", "b"),
        ("DELETED", "b"),
    ]


async def test_watch_streams_live_events(api: CoreV1Api) -> None:
    rv = (await api.list_namespaced_config_map("default")).metadata.resource_version
    stream = watch.Watch().stream(
        api.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5
    )
    async with stream:
        await _config_map(api, "live")
        event = await anext(stream)
    assert (event["type"], event["object"].metadata.name) == ("ADDED", "live")


async def test_watch_from_compacted_version_is_gone() -> None:
    async with (
        Emulator(cluster=SMALL_CLUSTER, history_size=5) as emu,
        client.ApiClient(client.Configuration(host=emu.url)) as api_client,
    ):
        api = CoreV1Api(api_client)
        old = await _config_map(api, "first")
        for i in range(6):
            await _config_map(api, f"n{i}")
        stream = watch.Watch().stream(
            api.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=2
        )
        with pytest.raises(ApiException) as info:
            async with stream:
                await anext(stream)
        assert info.value.status == 410
        response = await api.list_namespaced_config_map(
            "default", watch=True, resource_version=old, _preload_content=False
        )
        line = json.loads(await response.content.readline())
        assert line["type"] == "ERROR" and line["object"]["code"] == 410


async def test_pod_reflector_sees_pods(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubespawner.reflector import ResourceReflector

    class PodReflector(ResourceReflector):
        kind = "pods"

    monkeypatch.setattr(client.Configuration, "_default", client.Configuration(host=emu.url))
    reflector = PodReflector(namespace="default", labels={"app": "jupyterhub"}, timeout_seconds=1)
    await reflector.start()
    try:
        api = reflector.api
        manifest = {
            "metadata": {"name": "jupyter-alice", "labels": {"app": "jupyterhub"}},
            "spec": {"containers": [{"name": "n", "image": "i", "command": ["sleep", "30"]}]},
        }
        await api.create_namespaced_pod("default", manifest)
        await eventually(lambda: "default/jupyter-alice" in reflector.resources)
        # survives a watch timeout/reconnect and sees later changes
        await api.patch_namespaced_pod(
            "jupyter-alice", "default", {"metadata": {"labels": {"x": "y"}}}
        )
        await eventually(
            lambda: reflector.resources["default/jupyter-alice"]["metadata"]["labels"].get("x")
        )
        await api.delete_namespaced_pod("jupyter-alice", "default", grace_period_seconds=0)
        await eventually(lambda: "default/jupyter-alice" not in reflector.resources)
    finally:
        await reflector.stop()
        await asyncio.gather(*(t for t in [reflector.watch_task] if t), return_exceptions=True)


async def test_replay_is_filtered_like_the_live_stream(api: CoreV1Api) -> None:
    """A pod watch from a resourceVersion replays pods only, in the namespace and selector."""
    start = (await api.list_namespaced_pod("default")).metadata.resource_version
    await _config_map(api, "not-a-pod", {"app": "test"})
    await api.create_namespace({"metadata": {"name": "elsewhere"}})
    await api.create_namespaced_pod("elsewhere", pod_manifest("far"))
    await api.create_namespaced_pod("default", pod_manifest("near"))
    other = pod_manifest("unlabelled")
    other["metadata"]["labels"] = {}
    await api.create_namespaced_pod("default", other)
    events = await _replay(api.list_namespaced_pod, "app=test", start)
    seen = [(e["raw_object"]["kind"], e["raw_object"]["metadata"]["name"]) for e in events]
    assert seen and {name for _, name in seen} == {"near"}
    assert {kind for kind, _ in seen} == {"Pod"}
