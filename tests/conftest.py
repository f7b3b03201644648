"""Shared fixtures.

KubeSpawner loads a kubeconfig when a spawner is created, and
kubernetes_asyncio reads ``KUBECONFIG`` when first imported. Unit tests never
talk to Kubernetes, so they get a kubeconfig whose server refuses connections;
tests that need an API server start the emulator and point the spawner at it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"

_kubeconfig = Path(tempfile.mkdtemp(prefix="twcc-tests-")) / "kubeconfig"
_kubeconfig.write_text(
    """apiVersion: v1
kind: Config
clusters: [{name: unused, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: unused, user: {token: twcc-emulator-token}}]
contexts: [{name: unused, context: {cluster: unused, user: unused}}]
current-context: unused
"""
)
os.environ["KUBECONFIG"] = str(_kubeconfig)


#: Per-test limits (pytest-timeout) for the tests that run a real hub: a stuck
#: progress stream or a hub that never answers fails the test instead of hanging CI.
TIMEOUTS = {"e2e": 300, "bench": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is not None:
            continue
        limits = [t for marker, t in TIMEOUTS.items() if item.get_closest_marker(marker)]
        if limits:
            item.add_marker(pytest.mark.timeout(max(limits)))


@pytest.fixture
def shipped_profiles() -> Path:
    """The profiles/ directory as shipped (read only)."""
    return PROFILES


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped profiles."""
    target = tmp_path / "profiles"
    shutil.copytree(PROFILES, target)
    return target


def make_user(name: str = "alice", groups: tuple[str, ...] = ()) -> Any:
    """A stand-in for JupyterHub's User with what the spawner reads."""
    return SimpleNamespace(
        name=name,
        id=1,
        url=f"/user/{name}/",
        groups=[SimpleNamespace(name=g) for g in groups],
    )


@pytest.fixture
def make_spawner(profiles_dir: Path) -> Iterator[Callable[..., Any]]:
    """Build TWCCSpawners on the copied profiles (call inside a running loop)."""
    from twcc_spawner import TWCCSpawner

    def build(groups: tuple[str, ...] = (), user_options: Any = None, **config: Any) -> Any:
        config.setdefault("profiles_dir", str(profiles_dir))
        spawner = TWCCSpawner(_mock=True, user=make_user(groups=groups), **config)
        spawner.user_options = {} if user_options is None else user_options
        return spawner

    yield build
    TWCCSpawner._catalog_sources.clear()
