"""A catalog broken since the hub started: the form and the spawn answer 503, until fixed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from twcc_spawner.simulated.hub_settings import HubSettings
from twcc_spawner.simulated.local_hub import LocalHub

from .conftest import ROOT, Cluster, HubApi
from .reliability import browser_login

pytestmark = pytest.mark.e2e

CATALOG_BROKEN = (
    "The hub's image catalog is broken, so no server can start. Please tell the hub's operators."
)


@pytest.fixture
def hub_settings(hub_settings: HubSettings, tmp_path: Path) -> HubSettings:
    """A hub whose profiles are broken from the start (so there is no last good catalog)."""
    profiles = tmp_path / "profiles"
    shutil.copytree(ROOT / "profiles", profiles)
    (profiles / "sizes.yaml").write_text("sizes: []\n")
    return HubSettings(**{**hub_settings.__dict__, "profiles_dir": profiles})


def test_a_broken_catalog_is_a_503_for_the_form_and_the_spawn_until_it_is_fixed(
    hub: LocalHub, api: HubApi, k8s: Cluster
) -> None:
    settings = hub.settings
    browser = browser_login(settings.url, "alice", settings.password)
    page = browser.get(f"{settings.url}/hub/spawn", timeout=30)
    assert page.status_code == 503, page.text[:500]
    assert "The hub&#39;s image catalog is broken." in page.text, page.text[:2000]

    response = api.start("alice", release="21.11", gpus=2)
    assert response.status_code == 503, response.text
    assert response.json()["message"] == CATALOG_BROKEN
    assert k8s.writes() == [] and api.servers("alice") == {}
    log = (settings.state_dir / "hub.log").read_text()
    assert "sizes.yaml: sizes: [] should be non-empty" in log  # the operators' reason

    # the operators fix the files: the next spawn works, without a restart
    shutil.copy(ROOT / "profiles" / "sizes.yaml", settings.profiles_dir / "sizes.yaml")
    assert browser.get(f"{settings.url}/hub/spawn", timeout=30).status_code == 200
    assert api.start("alice", release="21.11", gpus=2).status_code in (201, 202)
    api.wait_ready("alice")
