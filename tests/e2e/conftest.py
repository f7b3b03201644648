"""End-to-end fixtures: the emulator, a real JupyterHub and configurable-http-proxy on it.

The hub is configured exactly as ``make demo`` configures it
(:mod:`twcc_spawner.simulated.hub_settings`), plus an admin service token and short
timeouts. Each test gets a fresh emulator, hub database and free ports.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from polling import eventually
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from twcc_spawner.simulated.emulator import Emulator
from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.emulator.images import SimulatedImages
from twcc_spawner.simulated.emulator.scheduling import bound_usage
from twcc_spawner.simulated.emulator.store import Change, Obj
from twcc_spawner.simulated.emulator.twcc_images import catalog_images, catalog_registry
from twcc_spawner.simulated.hub_settings import HubSettings
from twcc_spawner.simulated.local_hub import LocalHub

from .hub_rbac import hub_token

ROOT = Path(__file__).resolve().parents[2]
GPU = "nvidia.com/gpu"
#: The HTTP methods that change the cluster.
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The kubelet stand-in runs the pods' command (jupyterhub-singleuser) from our PATH.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

T = TypeVar("T")

#: The nodes' image pull rate: 100 GB/s, so that pulling an NGC image takes 60 ms.
FAST_PULLS = 100e9


def v100_cluster(nodes: int = 1, gpus: int = 8, **defaults: Any) -> dict[str, Any]:
    """A simulated cluster of ``nodes`` TWCC-like V100 nodes with ``gpus`` GPUs each."""
    gpu = {
        "product": "Tesla-V100-SXM2-32GB",
        "count": gpus,
        "memory": 32768,
        "family": "volta",
        "compute": "7.0",
        "driver": "510.47.03",
    }
    return {
        "defaults": {
            "cpu": "36",
            "memory": "768Gi",
            "gpu": gpu,
            "taints": [{"key": GPU, "value": "present", "effect": "NoSchedule"}],
            **defaults,
        },
        "nodes": [{"name": f"gn{1001 + i}"} for i in range(nodes)],
    }


#: How the preflight's capacity refusals begin (twcc_spawner.preflight.checks).
CAPACITY_MESSAGE = re.compile(r"^(No node has \d+ free GPUs? now|No GPU is free now|Nodes with )")


def capacity_refusal(response: requests.Response) -> str:
    """Assert that the spawn was refused for capacity (503) and return the message.

    The one place to adapt when a spawn that fails only on capacity waits in a queue
    instead of being refused.
    """
    assert response.status_code == 503, response.text
    message = response.json()["message"]
    assert CAPACITY_MESSAGE.match(message), message
    return message


class Cluster:
    """The emulator's state as seen from the test thread (reads run on its loop)."""

    def __init__(self, emulator: ThreadedEmulator) -> None:
        self.emulator = emulator
        self.created: list[str] = []  # names of pods created, in order
        self._read(lambda: self.emulator.emulator.store.subscribe(self._record))

    def _record(self, change: Change) -> None:
        if change.plural == "pods" and change.type == "ADDED":
            self.created.append(change.object["metadata"]["name"])

    def _read(self, read: Callable[[], T]) -> T:
        async def on_loop() -> T:
            return read()

        return self.emulator.call(on_loop())

    def pods(self) -> dict[str, Obj]:
        """Every pod by name (copies)."""
        store = self.emulator.emulator.store
        return self._read(
            lambda: {p["metadata"]["name"]: copy.deepcopy(p) for p in store.items("pods")}
        )

    def pod(self, name: str) -> Obj | None:
        """One pod of the default namespace, or None."""
        return self.pods().get(name)

    def calls(self) -> list[str]:
        """The API requests the emulator logged (``GET /api/v1/nodes?...``), in order."""
        server = self.emulator.emulator.server
        return self._read(lambda: [f"{r.method} {r.path}" for r in server.requests])

    def writes(self) -> list[str]:
        """The logged requests that change something (POST, PUT, PATCH, DELETE)."""
        return [call for call in self.calls() if call.split(" ", 1)[0] in WRITES]

    def events(self, pod: str) -> list[tuple[str, str]]:
        """(reason, message) of the events recorded about a pod, in the store's order."""
        store = self.emulator.emulator.store
        return self._read(
            lambda: [
                (e["reason"], e["message"])
                for e in store.items("events")
                if e["involvedObject"].get("name") == pod
            ]
        )

    def gpus_in_use(self) -> dict[str, int]:
        """GPUs held by bound, not terminated pods, by node (as the scheduler counts)."""
        usage = bound_usage(self.pods().values())
        return {node: int(used[GPU]) for node, used in usage.items() if used[GPU]}


class HubApi:
    """JupyterHub's REST API and the proxied servers, with the admin service's token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"
        # A GET on a kept-alive connection the proxy closed meanwhile (node's 5 s keep-alive,
        # e.g. across a hub restart) is reset; it is sent again, as browsers do. Answers,
        # 5xx included, are never retried.
        again = Retry(total=2, connect=2, read=2, status=0, allowed_methods={"GET"})
        self.session.mount("http://", HTTPAdapter(max_retries=again))

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``path`` under ``/hub/api`` (or under the hub's URL if it starts with /user/)."""
        base = self.url if path.startswith("/user/") else f"{self.url}/hub/api"
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, base + path, **kwargs)

    def create_user(self, name: str) -> None:
        response = self.request("POST", f"/users/{name}")
        assert response.status_code == 201, response.text

    def start(self, user: str, server: str = "", **options: Any) -> requests.Response:
        """Ask for a server with ``user_options``; the response (201, 202 or an error)."""
        path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
        return self.request("POST", path, json={"user_options": options})

    def stop(self, user: str, server: str = "") -> requests.Response:
        path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
        return self.request("DELETE", path)

    def servers(self, user: str) -> dict[str, Any]:
        """The user's servers as the hub lists them."""
        response = self.request("GET", f"/users/{user}")
        assert response.status_code == 200, response.text
        return response.json()["servers"]

    def wait_ready(self, user: str, server: str = "", timeout: float = 45.0) -> dict[str, Any]:
        """The server's model once the hub reports it ready; fails if its spawn fails."""

        def ready() -> dict[str, Any] | None:
            model = self.servers(user).get(server)
            assert model is not None, f"{user}/{server} is no longer pending or running"
            return model if model["ready"] else None

        return eventually(ready, timeout, f"{user}/{server} ready")

    def status(self, user: str, server: str = "") -> requests.Response:
        """``GET /user/<user>/[<server>/]api/status`` through the proxy."""
        prefix = f"/user/{user}/{server}/" if server else f"/user/{user}/"
        return self.request("GET", prefix + "api/status", allow_redirects=False)


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Any:
    """The simulated cluster: TWCC's V100 nodes unless parametrized (indirect)."""
    return getattr(request, "param", None)


@pytest.fixture
def images() -> SimulatedImages:
    """The simulated images: the catalog's NGC releases and the server-env (override it)."""
    return catalog_images(ROOT / "profiles")


@pytest.fixture
def emulator(cluster: Any, images: SimulatedImages, tmp_path: Path) -> Iterator[ThreadedEmulator]:
    """The emulator in a background thread; stopping it kills every pod process.

    The pods' logs are printed at teardown, so a failing test shows them.
    """
    workdir = tmp_path / "emulator"
    with Emulator.in_thread(
        cluster=cluster,
        workdir=workdir,
        images=images,
        registry=catalog_registry(ROOT / "profiles"),
        image_pull_rate=FAST_PULLS,
    ) as threaded:
        yield threaded
    for log in sorted(workdir.glob("pods/*/log*")):
        tail = log.read_text(errors="replace").splitlines()[-40:]
        print(f"--- pod log {log} ---", *tail, sep="\n")


@pytest.fixture
def k8s(emulator: ThreadedEmulator) -> Cluster:
    """Reads of the emulator's store, and the names of the pods ever created."""
    return Cluster(emulator)


@pytest.fixture
def hub_settings(
    emulator: ThreadedEmulator, tmp_path: Path, request: pytest.FixtureRequest
) -> HubSettings:
    """The demo's hub settings on free ports, with an admin token and short timeouts.

    The hub talks to the cluster as ServiceAccount ``hub``, bound by the shipped RBAC only
    (:mod:`.hub_rbac`). ``@pytest.mark.spawner(name=value, ...)`` adds spawner settings
    for one test.
    """
    extra = {k: v for m in request.node.iter_markers("spawner") for k, v in m.kwargs.items()}
    settings = HubSettings.throwaway(
        tmp_path / "hub",
        ROOT / "profiles",
        cleanup_servers=False,
        spawner={"unschedulable_timeout": 1.0, "watchdog_interval": 0.2, **extra},
    )
    emulator.write_kubeconfig(settings.kubeconfig, hub_token(emulator))
    return settings


#: The last line of a Python traceback: the exception (``module.Error: message``).
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: .*)?$")


def logged_tracebacks(log: str) -> list[str]:
    """The exception line that ends each Python traceback in a log.

    JupyterHub's log formatter indents a record's traceback; its exception line has
    the indentation of its ``Traceback (most recent call last):`` line.
    """
    found = []
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if line.lstrip() != "Traceback (most recent call last):":
            continue
        indent = len(line) - len(line.lstrip())
        for later in lines[index + 1 :]:
            body = later[indent:]
            if later[:indent].strip() == "" and _EXCEPTION_LINE.match(body):
                found.append(body)
                break
        else:
            found.append("(a traceback without its exception line)")
    return found


#: JupyterHub logs a spawn it refused with the person's 4xx as a traceback: expected.
REFUSALS = (r"^twcc_spawner\.refusal\.SpawnRefusal: 4\d\d ",)


def unexpected_tracebacks(log: str, allowed: tuple[str, ...]) -> list[str]:
    """Tracebacks in ``log`` whose exception line matches none of the ``allowed`` regexes."""
    return [t for t in logged_tracebacks(log) if not any(re.search(a, t) for a in allowed)]


@pytest.fixture
def hub(hub_settings: HubSettings, request: pytest.FixtureRequest) -> Iterator[LocalHub]:
    """A running proxy and hub; their logs are printed when a test fails.

    At teardown the test fails if the hub exited with a non-zero code (it crashed,
    or ignored SIGTERM) or logged a traceback. A test that provokes tracebacks on
    purpose names their exception lines with ``@pytest.mark.hub_tracebacks(regex, ...)``.
    """
    local = LocalHub(hub_settings, log_dir=hub_settings.state_dir)
    allowed = REFUSALS + tuple(
        pattern for mark in request.node.iter_markers("hub_tracebacks") for pattern in mark.args
    )
    exit_code: int | None = None
    try:
        local.start()
        yield local
    finally:
        exit_code = local.stop_hub()
        local.stop()
        for child in (local.hub, local.proxy):
            if child is not None:
                print(f"--- {child.name} ({child.log}) ---\n{child.log_tail(200)}")
    log = hub_settings.state_dir / "hub.log"
    problems = unexpected_tracebacks(log.read_text(errors="replace"), allowed)
    if exit_code not in (0, None):
        problems.append(f"the hub exited with code {exit_code}")
    if problems:
        pytest.fail(f"the hub went wrong ({log}): " + "; ".join(problems), pytrace=False)


@pytest.fixture
def api(hub: LocalHub) -> HubApi:
    """The hub's REST API with the admin service's token; user ``alice`` exists."""
    settings = hub.settings
    assert settings.admin_token
    client = HubApi(settings.url, settings.admin_token)
    client.create_user("alice")
    return client
