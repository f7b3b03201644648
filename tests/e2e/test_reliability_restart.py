"""The hub restarting in the middle of a spawn: the spawn is taken back or shown stopped.

The cluster is one node with 2 GPUs and every spawn asks for both, so a pod
or a GPU reservation left behind by the restart makes the next spawn fail.
The hub is stopped at a moment picked from the emulator's store (the pod was
just created) or from the fault rules (the pod create was answered with a
``Retry-After``), never after a sleep; its database then shows that the spawn
had not finished (no server address recorded).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import requests

from twcc_spawner.simulated.emulator import FaultRule
from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.emulator.store import Change
from twcc_spawner.simulated.local_hub import LocalHub

from .conftest import Cluster, HubApi, eventually, v100_cluster
from .reliability import browser_login

pytestmark = [
    pytest.mark.e2e,
    # JupyterHub 5.x logs the spawn its stop cut short as a CancelledError traceback
    pytest.mark.hub_tracebacks(r"^asyncio\.exceptions\.CancelledError$"),
]

TWO_GPU_NODE = v100_cluster(gpus=2)
FULL_NODE = {"release": "21.11", "gpus": 2}
POD = "jupyter-alice"
#: A request the hub answered with a server error, as JupyterHub logs it.
SERVER_ERROR = re.compile(r"\] 5\d\d (GET|POST|PUT|PATCH|DELETE) ")


@contextmanager
def spawn_in_background(api: HubApi) -> Iterator[Future[requests.Response]]:
    """Ask for alice's full-node server; the POST waits for the spawn, so run it aside.

    The hub is stopped under the request: its answer (a 500 from a hub shutting
    down, or the proxy's error) is awaited and not judged.
    """
    with ThreadPoolExecutor(1) as pool:
        post = pool.submit(api.start, "alice", **FULL_NODE)
        yield post
        with suppress(requests.RequestException):
            post.result()


def pod_created(emulator: ThreadedEmulator) -> threading.Event:
    """Set, on the emulator's loop, as soon as alice's pod is in the store."""
    created = threading.Event()

    def record(change: Change) -> None:
        if change.plural == "pods" and change.object["metadata"]["name"] == POD:
            created.set()

    async def subscribe() -> None:
        emulator.emulator.store.subscribe(record)

    emulator.call(subscribe())
    return created


def stop_hub(hub: LocalHub, sig: signal.Signals) -> None:
    """Stop the hub process as an operator (SIGTERM) or a crash (SIGKILL) would."""
    assert hub.hub is not None and hub.hub.process is not None
    if sig == signal.SIGTERM:
        assert hub.stop_hub() == 0
        return
    os.killpg(hub.hub.process.pid, sig)
    assert hub.hub.process.wait(30) == -sig


def recorded_address(state_dir: Path) -> str | None:
    """The address the hub's database holds for alice's default server; None if no server."""
    database = f"file:{state_dir / 'jupyterhub.sqlite'}?mode=ro"
    with sqlite3.connect(database, uri=True) as db:
        row = db.execute(
            "SELECT servers.ip FROM spawners"
            " JOIN users ON spawners.user_id = users.id"
            " JOIN servers ON spawners.server_id = servers.id"
            " WHERE users.name = 'alice' AND spawners.name = ''"
        ).fetchone()
    return None if row is None else row[0]


def saved_state(state_dir: Path) -> dict:
    """The spawner state the hub's database holds for alice's default server."""
    database = f"file:{state_dir / 'jupyterhub.sqlite'}?mode=ro"
    with sqlite3.connect(database, uri=True) as db:
        row = db.execute(
            "SELECT spawners.state FROM spawners JOIN users ON spawners.user_id = users.id"
            " WHERE users.name = 'alice' AND spawners.name = ''"
        ).fetchone()
    return json.loads(row[0]) if row and row[0] else {}


def restart(hub: LocalHub) -> int:
    """Start the hub again on the same database; the hub log's length before it."""
    log = hub.settings.state_dir / "hub.log"
    offset = len(log.read_text(errors="replace"))
    hub.start_hub(timeout=120)
    return offset


def server_errors_since(hub: LocalHub, offset: int) -> list[str]:
    """Requests the hub answered with a 5xx after ``offset`` in its log."""
    text = (hub.settings.state_dir / "hub.log").read_text(errors="replace")[offset:]
    return [line for line in text.splitlines() if SERVER_ERROR.search(line)]


def spawn_full_node_again(api: HubApi, k8s: Cluster) -> None:
    """Nothing left behind: a spawn needing every GPU of the node gets ready, and stops clean."""
    response = api.start("alice", **FULL_NODE)
    assert response.status_code in (201, 202), response.text
    api.wait_ready("alice", timeout=120)
    assert list(k8s.pods()) == [POD]
    assert sum(k8s.gpus_in_use().values()) == 2
    assert api.stop("alice").status_code in (202, 204)
    eventually(lambda: k8s.pods() == {}, 60, "the pod deleted")
    eventually(lambda: api.servers("alice") == {}, 60, "the server stopped")


@pytest.mark.parametrize("cluster", [TWO_GPU_NODE], indirect=True)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_spawn_cut_by_a_hub_restart_is_taken_back(
    hub: LocalHub, api: HubApi, k8s: Cluster, emulator: ThreadedEmulator, sig: signal.Signals
) -> None:
    created = pod_created(emulator)
    with spawn_in_background(api):
        assert created.wait(120), "the pod was never created"
        stop_hub(hub, sig)
    assert recorded_address(hub.settings.state_dir) == "", "the spawn had already finished"
    pod = k8s.pod(POD)
    assert pod is not None and not pod["metadata"].get("deletionTimestamp")
    uid = pod["metadata"]["uid"]

    offset = restart(hub)
    model = api.wait_ready("alice", timeout=120)  # fails if the server is stopped on the way
    assert model["pending"] is None
    # the same pod, at the address now recorded, reached through the proxy, with 2 GPUs
    pod = k8s.pod(POD)
    assert k8s.created == [POD] and pod is not None and pod["metadata"]["uid"] == uid
    assert recorded_address(hub.settings.state_dir) == pod["status"]["podIP"]
    eventually(lambda: api.status("alice").status_code == 200, 60, "the server reachable")
    assert sum(k8s.gpus_in_use().values()) == 2

    assert api.stop("alice").status_code in (202, 204)
    eventually(lambda: k8s.pods() == {}, 60, "the pod deleted")
    eventually(lambda: api.servers("alice") == {}, 60, "the server stopped")
    spawn_full_node_again(api, k8s)
    assert server_errors_since(hub, offset) == []


@pytest.mark.parametrize("cluster", [TWO_GPU_NODE], indirect=True)
def test_a_spawn_cut_before_its_pod_exists_is_shown_stopped(
    hub: LocalHub, api: HubApi, k8s: Cluster, emulator: ThreadedEmulator
) -> None:
    # the pod create is answered "503, retry after 10 s": the hub is stopped while it waits
    busy = emulator.emulator.faults.add(
        FaultRule(
            path=r"^/api/v1/namespaces/default/pods$",
            method="POST",
            status=503,
            retry_after=10,
            times=1,
        )
    )
    with spawn_in_background(api):
        eventually(lambda: busy.hits == 1, 120, "the pod create refused once")
        stop_hub(hub, signal.SIGTERM)
    assert recorded_address(hub.settings.state_dir) == "", "the spawn had already finished"
    assert k8s.created == [], "the pod was created before the hub stopped"

    offset = restart(hub)
    eventually(lambda: api.servers("alice") == {}, 120, "the server shown stopped")
    assert recorded_address(hub.settings.state_dir) is None
    assert k8s.created == [] and k8s.pods() == {}
    spawn_full_node_again(api, k8s)
    assert k8s.created == [POD]
    assert server_errors_since(hub, offset) == []


@pytest.mark.parametrize("cluster", [TWO_GPU_NODE], indirect=True)
def test_a_wait_in_line_ended_by_a_hub_restart_is_told_on_the_form(
    hub: LocalHub, api: HubApi, k8s: Cluster
) -> None:
    api.create_user("holder")
    assert api.start("holder", **FULL_NODE).status_code in (201, 202)
    api.wait_ready("holder", timeout=120)
    with spawn_in_background(api):  # no GPU is free: alice waits in line
        eventually(lambda: saved_state(hub.settings.state_dir).get("twcc_queued"), 120, "queued")
        stop_hub(hub, signal.SIGTERM)
    assert saved_state(hub.settings.state_dir)["twcc_queued"]["gpus"] == 2

    offset = restart(hub)
    session = browser_login(hub.settings.url, "alice", hub.settings.password)
    form = session.get(f"{hub.settings.url}/hub/spawn", timeout=60)
    assert form.status_code == 200
    assert "The hub restarted while you waited in line for 2 GPUs" in form.text
    assert api.servers("alice") == {}

    assert api.stop("holder").status_code in (202, 204)
    eventually(lambda: k8s.pods() == {}, 60, "the holder's pod deleted")
    spawn_full_node_again(api, k8s)  # a new start forgets the lost place
    assert "twcc_queued" not in saved_state(hub.settings.state_dir)
    form = session.get(f"{hub.settings.url}/hub/spawn", timeout=60)
    assert "The hub restarted" not in form.text
    assert server_errors_since(hub, offset) == []
