"""An image that cannot be pulled ends the spawn with the kubelet's own reason.

Nothing is injected: the emulator's kubelet finds the image missing from the
simulated registry and reports ErrImagePull, then ImagePullBackOff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.hub_settings import HubSettings

from .conftest import ROOT, Cluster, HubApi, eventually
from .test_pod_references import _store_items

pytestmark = pytest.mark.e2e


UNKNOWN_REGISTRY = "registry.invalid/ngc/pytorch"


@pytest.fixture
def hub_settings(emulator: ThreadedEmulator, tmp_path: Path) -> HubSettings:
    """The e2e hub settings, with the NGC images named in a registry nobody serves."""
    settings = HubSettings.throwaway(
        tmp_path / "hub",
        ROOT / "profiles",
        cleanup_servers=False,
        spawner={
            "unschedulable_timeout": 1.0,
            "watchdog_interval": 0.2,
            "image_registry": UNKNOWN_REGISTRY,
        },
    )
    emulator.write_kubeconfig(settings.kubeconfig)
    return settings


def test_an_image_that_cannot_be_pulled_ends_the_spawn_with_the_kubelets_reason(
    api: HubApi, k8s: Cluster, emulator: ThreadedEmulator
) -> None:
    image = f"{UNKNOWN_REGISTRY}:21.11-py3"
    response = api.start("alice", release="21.11", gpus=1)
    assert response.status_code in (201, 202, 500), response.text

    def failed() -> str | None:
        progress = api.request("GET", "/users/alice/server/progress", stream=True)
        lines = [line for line in progress.iter_lines(decode_unicode=True) if line]
        events = [json.loads(line[len("data:") :]) for line in lines if line.startswith("data:")]
        return next((e["message"] for e in events if e.get("failed")), None)

    message = eventually(failed, 60, "the spawn to fail")
    assert "The main container 'notebook' is stuck: ImagePullBackOff." in message, message
    assert f'Back-off pulling image "{image}"' in message, message
    pulls = [
        e["message"]
        for e in _store_items(emulator, "events")
        if e["reason"] == "Failed" and e["source"]["component"] == "kubelet"
    ]
    assert any(m.startswith(f'Failed to pull image "{image}": ') for m in pulls), pulls
    assert emulator.emulator.faults.rules == []  # nothing injected: the kubelet's own failure
    eventually(lambda: not k8s.pods(), 30, "the pod to be deleted")
    assert api.servers("alice") == {}
