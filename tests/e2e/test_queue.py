"""The queue in a real hub: 12 researchers ask for 8 GPUs on 3 nodes of 8."""

from __future__ import annotations

import pytest

from .conftest import Cluster, HubApi, eventually, v100_cluster

pytestmark = pytest.mark.e2e

THREE_NODES = v100_cluster(nodes=3, gpus=8)


def waiting(api: HubApi) -> list[dict]:
    response = api.request("GET", "/twcc/queue")
    assert response.status_code == 200, response.text
    return response.json()["waiting"]


def no_overcommit(k8s: Cluster) -> None:
    assert all(gpus <= 8 for gpus in k8s.gpus_in_use().values()), k8s.gpus_in_use()


@pytest.mark.parametrize("cluster", [THREE_NODES], indirect=True)
def test_twelve_ask_for_eight_gpus_three_start_nine_wait_and_move_up_in_order(
    api: HubApi, k8s: Cluster
) -> None:
    users = [f"r{i:02d}" for i in range(12)]
    for user in users:
        api.create_user(user)
    first = users[:3]
    for user in first:  # the first three start
        assert api.start(user, release="21.11", gpus=8).status_code in (201, 202)
    for user in first:
        api.wait_ready(user, timeout=90)
    for user in users[3:]:  # the next nine wait, in the order they asked
        response = api.start(user, release="21.11", gpus=8)
        assert response.status_code == 202, response.text
    line = eventually(lambda: len(rows := waiting(api)) == 9 and rows, 30, "nine waiting")
    assert [(r["user"], r["position"], r["gpus"]) for r in line] == [
        (user, i, 8) for i, user in enumerate(users[3:], 1)
    ]
    assert all(api.servers(u)[""]["pending"] == "spawn" for u in users[3:])
    no_overcommit(k8s)

    running = list(first)
    for expected in users[3:6]:  # as servers stop, the next in line start
        assert api.stop(running.pop(0)).status_code in (202, 204)
        api.wait_ready(expected, timeout=90)
        running.append(expected)
        no_overcommit(k8s)
        assert waiting(api)[0]["position"] == 1
    assert [r["user"] for r in waiting(api)] == users[6:]

    assert api.stop(users[8]).status_code in (202, 204)  # Stop Server leaves the line at once
    assert [r["user"] for r in waiting(api)] == [users[6], users[7], *users[9:]]
    assert [r["position"] for r in waiting(api)] == list(range(1, 6))
    assert "" not in api.servers(users[8])
    started = [name for name in k8s.created if name.startswith("jupyter-r")]
    assert started == [f"jupyter-{u}" for u in users[:6]]


def test_the_queue_api_is_for_admins_only(api: HubApi, hub) -> None:
    import requests

    anonymous = requests.get(f"{hub.settings.url}/hub/api/twcc/queue", timeout=10)
    assert anonymous.status_code == 403
    assert waiting(api) == []
