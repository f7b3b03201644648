"""Every Kubernetes API call the hub makes is granted by the chart's hub Role plus ours.

A spawn (with its progress stream, which reads the container's log), the ready
server and a stop run on the emulator; each request it logged is turned into the
(verb, resource, scope) RBAC would authorize and checked against the rules of
the Zero-to-JupyterHub chart as Helm renders it and ``deploy/kubernetes/rbac.yaml``.
"""

from __future__ import annotations

import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from z2jh import chart  # tests/ is on sys.path (rootdir-relative packages)

from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator

from .conftest import HubApi, eventually


class Access(NamedTuple):
    verb: str
    resource: str  # with the subresource, e.g. pods/log
    namespaced: bool


def access(method: str, path_qs: str) -> Access:
    """What RBAC checks for a core/v1 request (``/api/v1/...``)."""
    url = urllib.parse.urlsplit(path_qs)
    parts = url.path.removeprefix("/api/v1/").strip("/").split("/")
    namespaced = parts[0] == "namespaces" and len(parts) > 2
    if namespaced:
        parts = parts[2:]
    resource, name, sub = parts[0], parts[1] if len(parts) > 1 else "", parts[2:3]
    query = urllib.parse.parse_qs(url.query)
    if method == "GET":
        watching = query.get("watch", [""])[0] in ("1", "true")
        verb = "watch" if watching else ("get" if name else "list")
    else:
        verb = {"POST": "create", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}[method]
    return Access(verb, "/".join([resource, *sub]), namespaced)


def granted(rules: list[tuple[str, chart.Obj]], wanted: Access) -> bool:
    for kind, rule in rules:
        if kind == "Role" and not wanted.namespaced:
            continue  # a Role grants nothing cluster-wide
        core = "" in rule.get("apiGroups", [])
        if core and wanted.resource in rule["resources"] and wanted.verb in rule["verbs"]:
            return True
    return False


def test_the_chart_role_and_ours_grant_every_call_of_a_spawn_and_stop(
    api: HubApi, emulator: ThreadedEmulator
) -> None:
    def pending() -> bool:
        model = api.servers("alice").get("")
        return bool(model and model["pending"] == "spawn")

    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(api.start, "alice", release="21.11", gpus=2)
        eventually(pending, 30, "the spawn to be pending")
        progress = api.request("GET", "/users/alice/server/progress", stream=True, timeout=90)
        for line in progress.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[len("data:") :])
                if event.get("ready") or event.get("failed"):
                    break
        assert started.result().status_code in (201, 202)
    api.wait_ready("alice")
    assert api.status("alice").status_code in (200, 302)
    assert api.stop("alice").status_code in (202, 204)
    eventually(lambda: "" not in api.servers("alice"), 30, "alice's server stopped")

    logged = list(emulator.emulator.server.requests)
    calls = {access(r.method, r.path) for r in logged if r.path.startswith("/api/v1/")}
    assert Access("get", "pods/log", True) in calls  # the container's steps were read
    assert Access("list", "nodes", False) in calls  # the capacity checks
    rules = [
        *chart.iter_rules(chart.render(chart.our_values())),
        *chart.iter_rules(chart.manifests(chart.RBAC)),
    ]
    missing = sorted(c for c in calls if not granted(rules, c))
    assert missing == [], f"calls no rule grants: {missing}"
