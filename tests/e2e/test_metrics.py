"""The metrics operators scrape, through a real hub's /hub/metrics."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Cluster, HubApi, eventually

pytestmark = pytest.mark.e2e


def metrics(api: HubApi) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The hub's /hub/metrics, parsed: (sample name, sorted labels) → value."""
    response = api.session.get(f"{api.url}/hub/metrics", timeout=30)
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_a_spawn_moves_the_metrics_the_hub_serves(api: HubApi, k8s: Cluster) -> None:
    spawned = ("twcc_spawns_total", (("release", "21.11"), ("size", "c.xsuper")))
    ready = ("twcc_time_to_ready_seconds_count", (("release", "21.11"),))
    refused = ("twcc_spawn_refusals_total", (("reason", "invalid_selection"),))
    held = ("twcc_gpus_held", ())
    before = metrics(api)
    assert before[held] == 0
    assert before.get(spawned, 0) == before.get(ready, 0) == before.get(refused, 0) == 0

    assert api.start("alice", release="21.11", gpus=2).status_code in (201, 202)
    api.wait_ready("alice")
    assert api.start("alice", "other", release="21.11", gpus=3).status_code == 400
    after = metrics(api)
    assert after[spawned] == 1
    assert after[ready] == 1
    assert after[refused] == 1
    assert after[held] == 2 == sum(k8s.gpus_in_use().values())

    assert api.stop("alice").status_code in (202, 204)
    eventually(lambda: k8s.pods() == {}, what="pod deleted")
    eventually(lambda: metrics(api)[held] == 0, what="twcc_gpus_held back to 0")
