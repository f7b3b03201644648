"""CRUD, Status errors, selectors and resourceVersion over real HTTP."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer
from kubernetes_asyncio.client import ApiException, CoreV1Api, VersionApi

from twcc_spawner.simulated.emulator.faults import Faults
from twcc_spawner.simulated.emulator.server import ApiServer
from twcc_spawner.simulated.emulator.store import Store

from .conftest import pod_manifest


async def test_discovery_and_version(api: CoreV1Api) -> None:
    resources = await api.get_api_resources()
    assert {"pods", "events", "nodes", "pods/status"} <= {r.name for r in resources.resources}
    version = await VersionApi(api.api_client).get_code()
    assert version.major == "1"


async def test_crud_configmap(api: CoreV1Api) -> None:
    body = {"metadata": {"name": "cfg", "labels": {"a": "1"}}, "data": {"k": "v"}}
    created = await api.create_namespaced_config_map("default", body)
    assert created.metadata.uid and created.metadata.creation_timestamp
    got = await api.read_namespaced_config_map("cfg", "default")
    assert got.data == {"k": "v"}
    patched = await api.patch_namespaced_config_map("cfg", "default", {"data": {"k": "w"}})
    assert patched.data == {"k": "w"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    ops = [{"op": "add", "path": "/data/x", "value": "y"}]
    assert (await api.patch_namespaced_config_map("cfg", "default", ops)).data["x"] == "y"
    await api.delete_namespaced_config_map("cfg", "default")
    with pytest.raises(ApiException) as info:
        await api.read_namespaced_config_map("cfg", "default")
    status = json.loads(info.value.body)
    assert (info.value.status, status["kind"], status["reason"]) == (404, "Status", "NotFound")


async def test_already_exists_and_invalid(api: CoreV1Api) -> None:
    await api.create_namespaced_pod("default", pod_manifest("p1"))
    with pytest.raises(ApiException) as info:
        await api.create_namespaced_pod("default", pod_manifest("p1"))
    assert info.value.status == 409
    assert json.loads(info.value.body)["reason"] == "AlreadyExists"

    bad = pod_manifest("p2")
    bad["spec"]["containers"][0]["resources"] = {"limits": {"cpu": ["x"]}}
    with pytest.raises(ApiException) as info:
        await api.create_namespaced_pod("default", bad)
    status = json.loads(info.value.body)
    assert info.value.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.containers[0].resources.limits.cpu"


async def test_malformed_json_is_bad_request(api: CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        await api.api_client.call_api(
            "/api/v1/namespaces/default/configmaps",
            "POST",
            body="{not json",
            header_params={"Content-Type": "application/json"},
        )
    assert info.value.status == 400


async def test_missing_namespace_is_not_found(api: CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        await api.create_namespaced_config_map("nope", {"metadata": {"name": "x"}})
    assert info.value.status == 404


async def test_pod_defaults(api: CoreV1Api) -> None:
    manifest = pod_manifest("p", gpus=1)
    del manifest["spec"]["restartPolicy"]
    pod = await api.create_namespaced_pod("default", manifest)
    assert pod.status.phase in ("Pending", "Running")
    assert pod.spec.restart_policy == "Always"
    assert pod.metadata.namespace == "default"
    assert pod.spec.containers[0].resources.requests == {"nvidia.com/gpu": "1"}


async def test_label_and_field_selectors(api: CoreV1Api) -> None:
    for name, labels in [("a", {"tier": "gpu", "x": "1"}), ("b", {"tier": "cpu"}), ("c", {})]:
        await api.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": labels}}
        )

    async def names(**kwargs: str) -> list[str]:
        result = await api.list_namespaced_config_map("default", **kwargs)
        return [i.metadata.name for i in result.items]

    assert await names(label_selector="tier=gpu") == ["a"]
    assert await names(label_selector="tier==gpu") == ["a"]
    assert await names(label_selector="tier!=gpu") == ["b", "c"]
    assert await names(label_selector="tier in (gpu, cpu)") == ["a", "b"]
    assert await names(label_selector="tier notin (gpu)") == ["b", "c"]
    assert await names(label_selector="x") == ["a"]
    assert await names(label_selector="!tier") == ["c"]
    assert await names(label_selector="tier,!x") == ["b"]
    assert await names(field_selector="metadata.name=b") == ["b"]
    assert await names(field_selector="metadata.name!=b") == ["a", "c"]
    with pytest.raises(ApiException) as info:
        await names(field_selector="spec.bogus=1")
    assert info.value.status == 400


async def test_list_across_namespaces_and_resource_version(api: CoreV1Api) -> None:
    await api.create_namespace({"metadata": {"name": "other"}})
    first = await api.create_namespaced_pod("other", pod_manifest("x"))
    second = await api.create_namespaced_pod("default", pod_manifest("y"))
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    pods = await api.list_pod_for_all_namespaces(field_selector="metadata.namespace=other")
    assert [p.metadata.name for p in pods.items] == ["x"]
    assert int(pods.metadata.resource_version) >= int(second.metadata.resource_version)


async def test_list_pages_with_limit_and_continue(api: CoreV1Api) -> None:
    for name in "abcdefg":
        await api.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"odd": str(name in "aceg")}}}
        )
    pages, versions, token = [], set(), None
    while True:
        kwargs = {"_continue": token} if token else {}
        page = await api.list_namespaced_config_map(
            "default", label_selector="odd=True", limit=3, **kwargs
        )
        pages.append([i.metadata.name for i in page.items])
        versions.add(page.metadata.resource_version)
        token = page.metadata._continue
        if not token:
            break
    assert len(versions) == 1  # every page reports the first page's resourceVersion
    assert pages == [["a", "c", "e"], ["g"]]  # selectors apply before the limit
    exact = await api.list_namespaced_config_map("default", limit=7)
    assert len(exact.items) == 7 and exact.metadata._continue is None
    for bad in ({"_continue": "not-a-token"}, {"limit": -1}):
        with pytest.raises(ApiException) as info:
            await api.list_namespaced_config_map("default", **bad)
        assert info.value.status == 400


async def test_status_subresource(api: CoreV1Api) -> None:
    await api.create_namespaced_pod("default", pod_manifest("s", nodeName="nowhere"))
    patched = await api.patch_namespaced_pod_status(
        "s", "default", {"status": {"message": "hi"}, "spec": {"nodeName": "ignored"}}
    )
    assert patched.status.message == "hi"
    assert patched.spec.node_name == "nowhere"


async def test_request_log_counts_each_call_in_order() -> None:
    """The API server logs every request as it arrives, for counting a client's calls."""
    server = ApiServer(Store(), Faults(), lambda pod, query: None)
    async with TestClient(TestServer(server.app())) as http:
        await http.get("/version")
        await http.get("/api/v1/nodes?labelSelector=a%3Db")
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/version"),
        ("GET", "/api/v1/nodes?labelSelector=a%3Db"),
    ]
    assert server.requests[0].at <= server.requests[1].at
