"""A catalog that was never valid stops the hub at start-up, naming the file's problem.

Without a last good catalog no spawn could work, so the hub refuses to start (the
start-up check of :mod:`twcc_spawner.startup`) instead of answering every form and
spawn with a 503. A broken *live* edit keeps the last good catalog serving
(``tests/test_catalog_source.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from twcc_spawner.simulated.hub_settings import HubSettings
from twcc_spawner.simulated.local_hub import LocalHub, ProcessExited

from .conftest import ROOT, Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture
def hub_settings(hub_settings: HubSettings, tmp_path: Path) -> HubSettings:
    """A hub whose profiles are broken from the start (so there is no last good catalog)."""
    profiles = tmp_path / "profiles"
    shutil.copytree(ROOT / "profiles", profiles)
    (profiles / "sizes.yaml").write_text("sizes: []\n")
    return HubSettings(**{**hub_settings.__dict__, "profiles_dir": profiles})


def test_a_catalog_broken_at_start_up_stops_the_hub_naming_the_problem(
    hub_settings: HubSettings, k8s: Cluster
) -> None:
    local = LocalHub(hub_settings, log_dir=hub_settings.state_dir)
    try:
        with pytest.raises(ProcessExited, match="exited with code 1"):
            local.start()
    finally:
        local.stop()
    log = (hub_settings.state_dir / "hub.log").read_text()
    assert "TWCCSpawner cannot start any server with this configuration" in log
    assert (
        f"profiles_dir: {hub_settings.profiles_dir}/sizes.yaml: sizes: [] should be non-empty"
        in log
    )
    assert k8s.writes() == []  # refused before any Kubernetes call that changes something
