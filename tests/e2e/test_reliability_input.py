"""Hostile input through the hub's real endpoints: never a 500, never a pod outside the catalog.

One hub serves every example (starting a hub costs more than a hundred requests).
Options are generated with hypothesis, biased towards the hostile: unknown keys,
wrong types, near-miss values, control characters, long strings. The expected
answer comes from :func:`~.reliability.expected_selection`, written from the
documented contract. Every pod the emulator ever sees is checked against the catalog.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import jupyterhub
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.local_hub import LocalHub

from .conftest import HubApi, eventually
from .reliability import CATALOG, PodRecorder, browser_login, check_pod_in_catalog
from .reliability import expected_selection as expected

pytestmark = pytest.mark.e2e

EXAMPLES = 50
RELEASES = [r.release for r in CATALOG.releases]
SIZES = [s.name for s in CATALOG.sizes]
HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " 21.11",
        "21.11 ",
        "21.11\x00",
        "21.11\n",
        "２１.１１",
        "../../etc/passwd",
        "{{7*7}}",
        "<script>alert(1)</script>",
        "nvcr.io/evil/miner:latest",
        "c.super; rm -rf /",
        "x" * 5000,
        "2" * 400,
        "１",
        "0x2",
        "+2",
        "-1",
        "2.0",
        "٢",
    ]
) | st.text(max_size=40)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | HOSTILE_TEXT
JSON_ANY = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
RELEASE = st.sampled_from(RELEASES) | HOSTILE_TEXT | JSON_ANY
GPUS = (
    st.sampled_from([1, 2, 4, 8, "1", "2", "4", "8", "008"])
    | st.integers(-5, 20)
    | st.integers(-5, 20).map(str)
    | JSON_ANY
)
SIZE = st.sampled_from(SIZES) | HOSTILE_TEXT | JSON_ANY
HOSTILE_KEYS = st.sampled_from(
    [
        "image",
        "profile",
        "cmd",
        "extra_resource_limits",
        "kubespawner_override",
        "volumes",
        "node_selector",
        "__class__",
        "release ",
        "Release",
        "gpus[]",
    ]
) | st.text(max_size=12)
OPTIONS = st.fixed_dictionaries(
    {}, optional={"release": RELEASE, "gpus": GPUS, "size": SIZE}
) | st.dictionaries(
    st.sampled_from(["release", "gpus", "size"]) | HOSTILE_KEYS, JSON_ANY, max_size=5
)
FORM_VALUE = st.sampled_from([*RELEASES, *SIZES, "1", "2", "3", "8"]) | HOSTILE_TEXT
FORM_FIELDS = st.lists(
    st.tuples(st.sampled_from(["release", "size", "gpus", "image", "profile"]), FORM_VALUE),
    max_size=4,
)

HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example is a request
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Outcomes:
    """What each endpoint answered, and the servers to stop."""

    def __init__(self) -> None:
        self.tried: dict[str, int] = {}
        self.started: dict[str, int] = {}
        self.names = (f"h{i}" for i in itertools.count())

    def note(self, endpoint: str, started: bool) -> None:
        self.tried[endpoint] = self.tried.get(endpoint, 0) + 1
        self.started[endpoint] = self.started.get(endpoint, 0) + started


def settle(api: HubApi, server: str) -> None:
    """Stop a server that was started and wait until the hub forgot it."""
    assert api.stop("alice", server).status_code in (202, 204)
    eventually(lambda: server not in api.servers("alice"), what=f"{server} stopped")


def server_of(pod: dict[str, Any]) -> str:
    """The hub server name a pod belongs to (KubeSpawner's annotation)."""
    return pod["metadata"]["annotations"]["hub.jupyter.org/servername"]


def form_options(fields: list[tuple[str, str]]) -> Any:
    """The user_options the form fields mean (a field given twice is a list)."""
    options: dict[str, list[str]] = {}
    for key, value in fields:
        options.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in options.items()}


# JupyterHub logs a refused spawn from query arguments with its traceback, then shows the form.
# JupyterHub 5.x logs these itself for refused spawns (6.x does not)
@pytest.mark.hub_tracebacks(r"^NoneType: None$", r"^asyncio\.exceptions\.CancelledError$")
def test_hostile_options_are_refused_with_a_4xx_and_never_make_a_pod(
    hub: LocalHub, api: HubApi, emulator: ThreadedEmulator
) -> None:
    recorder = PodRecorder(emulator)
    outcomes = Outcomes()
    settings_ = hub.settings
    browser = browser_login(settings_.url, "alice", settings_.password)
    xsrf = browser.cookies.get("_xsrf")

    def judge(endpoint: str, server: str, options: Any, status: int, text: str) -> None:
        assert status < 500, (endpoint, options, status, text[:300])
        want = expected(options)
        started = server in api.servers("alice")
        case = (endpoint, options, status, text[:300])
        if want is None:
            # the REST API answers 4xx; the pages show the form again with the reason
            assert 400 <= status < 500 or (endpoint != "rest" and status == 200), case
            assert not started, case
        elif endpoint == "query" and not options:
            assert status == 200 and not started, case  # no opt- argument: just the form
        else:  # offered, and the cluster (4 nodes of 8 GPUs, each server stopped) has room
            assert status in ((201, 202) if endpoint == "rest" else (302,)), case
            assert started, case
            (pod,) = [p for p in recorder.created if server_of(p) == server]
            assert check_pod_in_catalog(pod) == want, (case, pod["metadata"]["labels"])
            settle(api, server)
        outcomes.note(endpoint, started)

    @HYPOTHESIS
    @given(OPTIONS | JSON_ANY)
    def rest(options: Any) -> None:
        server = next(outcomes.names)
        body = json.dumps({"user_options": options})  # NaN and Infinity too: hostile
        response = api.request("POST", f"/users/alice/servers/{server}", data=body)
        judge("rest", server, options, response.status_code, response.text)

    @HYPOTHESIS
    @given(FORM_FIELDS)
    def form(fields: list[tuple[str, str]]) -> None:
        server = next(outcomes.names)
        response = browser.post(
            f"{settings_.url}/hub/spawn/alice/{server}",
            data=[*fields, ("_xsrf", xsrf)],
            timeout=30,
            allow_redirects=False,
        )
        judge("form", server, form_options(fields), response.status_code, response.text)

    @HYPOTHESIS
    @given(FORM_FIELDS)
    def query(fields: list[tuple[str, str]]) -> None:
        server = next(outcomes.names)
        response = browser.get(
            f"{settings_.url}/hub/spawn/alice/{server}",
            params=[(f"opt-{k}", v) for k, v in fields],
            timeout=30,
            allow_redirects=False,
        )
        judge("query", server, form_options(fields), response.status_code, response.text)

    rest()
    form()
    query()
    hub.check_running()

    assert all(n >= EXAMPLES for n in outcomes.tried.values()), outcomes.tried
    assert sum(outcomes.started.values()) >= 3, outcomes.started  # valid ones did start
    for pod in recorder.created:
        check_pod_in_catalog(pod)
    assert len(recorder.created) == sum(outcomes.started.values())
    eventually(lambda: api.servers("alice") == {}, what="every server stopped")
    print("reliability: hostile inputs", json.dumps(outcomes.tried), json.dumps(outcomes.started))


NOT_UTF8 = b"\xff\xfe\x00"
JUPYTERHUB_MAJOR = int(jupyterhub.__version__.split(".")[0])


@pytest.mark.parametrize("endpoint", ["/users/alice/server", "/users/alice/servers/big"])
@pytest.mark.hub_tracebacks(
    r"^json\.decoder\.JSONDecodeError: ",
    r"^RecursionError: .* JSON",
    # JupyterHub 5.x's own 500 for a body that is not UTF-8 (6.x answers 400)
    r"^UnicodeDecodeError: 'utf-8' codec",
    r"^TypeError: sequence item 0: expected str instance, int found$",
)
def test_oversized_and_malformed_bodies_are_refused(
    hub: LocalHub, api: HubApi, emulator: ThreadedEmulator, endpoint: str
) -> None:
    recorder = PodRecorder(emulator)
    huge = {"release": "21.11", "gpus": 1, "size": "x" * (8 * 1024 * 1024)}
    bodies: list[bytes] = [
        b"{",
        NOT_UTF8,
        b'{"user_options": ' * 2000 + b"1" + b"}" * 2000,
        b'{"user_options": {"release": "21.11", "release": "22.02", "gpus": 1, "x": 1}}',
        b"[1, 2, 3]",
        b'"21.11"',
        json.dumps({"user_options": huge}).encode(),
    ]
    for body in bodies:
        response = api.request("POST", endpoint, data=body)
        if body == NOT_UTF8 and JUPYTERHUB_MAJOR < 6:
            # JupyterHub 5.x decodes the body itself and answers 500 before any
            # spawner runs (6.x: 400); nothing is started either way
            assert response.status_code == 500 and "invalid start byte" in response.text
            continue
        assert 400 <= response.status_code < 500, (body[:80], response.status_code, response.text)
    hub.check_running()
    assert recorder.created == []
    # the hub still serves a good request afterwards
    response = api.request("POST", endpoint, json={"user_options": {"release": "21.11"}})
    assert response.status_code in (201, 202), response.text
