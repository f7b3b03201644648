"""Prometheus metrics: spawns, refusals, GPUs held and time to ready, read from the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from twcc_spawner import metrics
from twcc_spawner.catalog import load_catalog
from twcc_spawner.refusal import SpawnRefusal
from twcc_spawner.selection import resolve


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_refused_spawn_is_counted_by_reason(make_spawner) -> None:
    before = sample("twcc_spawn_refusals_total", reason="invalid_selection")
    spawner = make_spawner(user_options={"release": "21.11", "gpus": 3})
    with pytest.raises(SpawnRefusal):
        await spawner.start()
    assert sample("twcc_spawn_refusals_total", reason="invalid_selection") == before + 1


async def test_a_ready_server_is_counted_with_its_time_to_ready(shipped_profiles: Path) -> None:
    selection = resolve(load_catalog(shipped_profiles), {"release": "21.11", "gpus": 2})
    labels = {"release": "21.11", "size": "c.xsuper"}
    spawns = sample("twcc_spawns_total", **labels)
    slow = sample("twcc_time_to_ready_seconds_bucket", release="21.11", le="600.0")
    fast = sample("twcc_time_to_ready_seconds_bucket", release="21.11", le="300.0")
    ticks = iter([1000.0, 1420.0])

    async def start() -> str:
        return "http://10.0.0.7:8888"

    url = await metrics.observe_start(start(), lambda: selection, lambda: next(ticks))
    assert url == "http://10.0.0.7:8888"
    assert sample("twcc_spawns_total", **labels) == spawns + 1
    assert sample("twcc_time_to_ready_seconds_bucket", release="21.11", le="600.0") == slow + 1
    assert sample("twcc_time_to_ready_seconds_bucket", release="21.11", le="300.0") == fast


async def test_a_failure_that_is_not_a_refusal_is_not_counted_as_one() -> None:
    before = generate_latest(REGISTRY).count(b"twcc_spawn_refusals_total{")

    async def start() -> str:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        await metrics.observe_start(start(), lambda: None, lambda: 0.0)
    assert generate_latest(REGISTRY).count(b"twcc_spawn_refusals_total{") == before


def pod(gpus: str | None, node: str | None = "gn1", phase: str = "Running") -> dict[str, Any]:
    labels = {"component": "singleuser-server"}
    if gpus is not None:
        labels["twcc.ai/gpus"] = gpus
    spec = {"nodeName": node} if node else {}
    return {"metadata": {"labels": labels}, "spec": spec, "status": {"phase": phase}}


@pytest.mark.parametrize(
    ("pods", "held"),
    [
        pytest.param([], 0, id="none"),
        pytest.param([pod("2"), pod("8", phase="Pending")], 10, id="running-and-starting"),
        pytest.param([pod("2", node=None, phase="Pending")], 0, id="unscheduled"),
        pytest.param([pod("4", phase="Succeeded"), pod("1", phase="Failed")], 0, id="finished"),
        pytest.param([pod(None), pod("x")], 0, id="not-ours"),
    ],
)
def test_gpus_held(pods: list[dict[str, Any]], held: int) -> None:
    assert metrics.gpus_held(pods) == held


def test_the_gauge_reads_the_pods_at_scrape_time() -> None:
    from twcc_spawner import spawner

    pods = [pod("2")]
    metrics.count_gpus_held(lambda: pods)
    try:
        assert sample("twcc_gpus_held") == 2
        pods.append(pod("8"))
        assert sample("twcc_gpus_held") == 10
    finally:
        metrics.count_gpus_held(spawner._reflected_pods)
    assert sample("twcc_gpus_held") == 0  # no reflector runs in unit tests
