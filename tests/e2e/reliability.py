"""Helpers for the reliability tests: a spec of valid options, pod checks, a browser login."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import requests

from twcc_spawner.catalog import Catalog, load_catalog
from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.emulator.store import Change, Obj

from .conftest import GPU, ROOT

CATALOG: Catalog = load_catalog(ROOT / "profiles")
REGISTRY = "nvcr.io/nvidia/pytorch"


def expected_selection(options: Any) -> tuple[str, str] | None:
    """(release, size name) that ``options`` must start, or None if it must be refused.

    Written from the documented contract (docs/user-options.md), not from
    :mod:`twcc_spawner.selection`, so the tests check the code against the spec.
    Every release and size of the shipped catalog is offered to everyone.
    """
    if options is None:
        options = {}
    if not isinstance(options, dict) or set(options) - {"release", "gpus", "size"}:
        return None
    releases = [r for r in CATALOG.releases if not r.hidden]
    sizes = [s for s in CATALOG.sizes if not s.hidden]
    release = options.get("release")
    if release is None:
        picked = next((r for r in releases if r.default), releases[0])
    elif isinstance(release, str):
        picked = next((r for r in releases if r.release == release), None)
    else:
        picked = None
    if picked is None:
        return None
    by_name = None
    if "size" in options:
        by_name = next((s for s in sizes if s.name == options["size"]), None)
        if by_name is None:
            return None
    if "gpus" in options:
        gpus = options["gpus"]
        if isinstance(gpus, str) and re.fullmatch(r"[0-9]{1,3}", gpus):
            gpus = int(gpus)
        if type(gpus) is not int:
            return None
        by_count = next((s for s in sizes if s.gpus == gpus), None)
        if by_count is None or (by_name is not None and by_name.gpus != gpus):
            return None
        return picked.release, (by_name or by_count).name
    size = by_name or next((s for s in sizes if s.default), sizes[0])
    return picked.release, size.name


def check_pod_in_catalog(pod: Mapping[str, Any]) -> tuple[str, str]:
    """Assert the pod runs a catalog image with a catalog size; returns (release, size)."""
    labels = pod["metadata"]["labels"]
    release = CATALOG.release(labels["twcc.ai/release"])
    size = CATALOG.size(labels["twcc.ai/size"])
    assert release is not None and size is not None, labels
    notebook = pod["spec"]["containers"][0]
    assert notebook["image"] == release.image_ref(REGISTRY), notebook["image"]
    limits = notebook["resources"]["limits"]
    assert limits[GPU] == str(size.gpus), limits
    assert limits["memory"] == size.memory, limits
    assert notebook["resources"]["requests"] == limits
    for container in pod["spec"]["containers"][1:] + pod["spec"].get("initContainers", []):
        assert GPU not in (container.get("resources") or {}).get("limits", {}), container
    for volume in pod["spec"].get("volumes", []):
        kinds = set(volume) - {"name"}
        assert kinds <= {"emptyDir", "persistentVolumeClaim", "configMap", "secret"}, volume
        if "emptyDir" in volume and volume["emptyDir"].get("medium") == "Memory":
            assert volume["emptyDir"]["sizeLimit"] == size.shm, volume
    assert not pod["spec"].get("hostNetwork") and not pod["spec"].get("hostPID")
    return release.release, size.name


class PodRecorder:
    """Every pod object as it was created in the emulator's store (deep copies)."""

    def __init__(self, emulator: ThreadedEmulator) -> None:
        self.created: list[Obj] = []

        def record(change: Change) -> None:
            if change.plural == "pods" and change.type == "ADDED":
                self.created.append(copy.deepcopy(change.object))

        async def subscribe() -> None:
            emulator.emulator.store.subscribe(record)

        emulator.call(subscribe())


def browser_login(url: str, user: str, password: str) -> requests.Session:
    """A session logged in through the hub's login form, with its ``_xsrf`` token."""
    session = requests.Session()
    session.get(f"{url}/hub/login", timeout=30)
    xsrf = session.cookies.get("_xsrf")
    response = session.post(
        f"{url}/hub/login",
        data={"username": user, "password": password, "_xsrf": xsrf},
        timeout=30,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    return session
