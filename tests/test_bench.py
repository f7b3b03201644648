"""``python -m bench --quick``: every measurement is reported and the burst's invariants hold.

It starts real hubs and proxies on the emulator, so it is marked ``bench`` (selected
with ``-m bench``, left out by ``-m "not e2e and not bench"``). No timing is asserted:
the figures are the benchmark's, in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.hub import SIZE_GPUS
from bench.workload import few_free

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.bench


def test_quick_bench_reports_every_measurement_and_never_overcommits(tmp_path: Path) -> None:
    out, page = tmp_path / "results.json", tmp_path / "benchmarks.md"
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--page", str(page)],
        cwd=ROOT,
        check=True,
        timeout=800,
    )
    results = json.loads(out.read_text())
    assert set(results) >= {
        *("machine", "spawn", "forms", "verdict", "burst", "queue", "memory", "usable", "config")
    }
    config = results["config"]
    for variant in ("twcc", "kube"):
        assert results["spawn"][variant]["overhead_s"]["n"] == config["spawn_rounds"]
        assert results["spawn"][variant]["cpu_s"]["n"] == config["spawn_rounds"]
        assert results["usable"][variant]["usable_s"]["n"] == config["usable_rounds"]
        assert "growth_mib" in results["memory"][variant]
        burst = results["burst"][variant]
        assert burst["spawns"] == config["burst_spawns"]
        assert burst["admitted"] + burst["refused"] + burst["failed"] == burst["spawns"]
        assert burst["gpus_admitted"] == SIZE_GPUS * burst["admitted"]

    # TWCCSpawner's preflight admits exactly what fits, on nodes with room, and refuses
    # the rest with the capacity message; nothing fails on the way. (Plain KubeSpawner
    # has no such check: its pods wait for GPUs, which is what the benchmark shows.)
    twcc = results["burst"]["twcc"]
    assert twcc["gpus_admitted"] <= twcc["free_gpus"] and twcc["overcommit_gpus"] == 0
    per_node = few_free(twcc["free_gpus"])(0)
    assert twcc["admitted"] == twcc["free_gpus"] // SIZE_GPUS
    assert twcc["failed"] == 0 and twcc["errors"] == {}
    assert 0 < twcc["reserved_by_node_max"] <= per_node
    assert sum(twcc["refusal_messages"].values()) == twcc["refused"]
    assert all("GPU" in m and "free" in m for m in twcc["refusal_messages"]), twcc

    assert set(results["forms"]) == {"15x4", "200x8"}
    assert set(results["verdict"]) == {str(n) for n in config["verdict_nodes"]}
    queue = results["queue"]
    assert queue["overcommit_gpus"] == 0 and queue["started"] + queue["failed"] == queue["spawns"]
    assert {"mean_wait_s", "worst_wait_8_gpus_s", "worst_loop_lag_s"} <= set(queue)
    assert "## Targets" in page.read_text()
    assert (tmp_path / "benchmarks-verdict.png").stat().st_size > 0

    # --only re-measures one section on top of the results, and the page says so
    rerun = ["--quick", "--only", "queue", "--out", str(out), "--page", str(page)]
    subprocess.run(
        [sys.executable, "-m", "bench", *rerun],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    again = json.loads(out.read_text())
    assert set(again["rerun"]) == {"queue"}
    assert again["queue"]["started"] + again["queue"]["failed"] == again["queue"]["spawns"]
    assert again["queue"]["wall_s"] != queue["wall_s"]  # measured again
    assert {k: v for k, v in again.items() if k not in ("queue", "rerun")} == {
        k: v for k, v in results.items() if k != "queue"
    }
    assert "Re-run since with `--only`, on the same machine: `queue` on" in page.read_text()
