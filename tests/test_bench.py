"""``python -m bench --quick`` runs and reports every measurement (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_reports_every_measurement(tmp_path: Path) -> None:
    out, page = tmp_path / "results.json", tmp_path / "benchmarks.md"
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--page", str(page)],
        cwd=ROOT,
        check=True,
        timeout=600,
    )
    results = json.loads(out.read_text())
    assert set(results) >= {
        *("machine", "spawn", "forms", "verdict", "burst", "queue", "memory", "usable", "config")
    }
    for variant in ("twcc", "kube"):
        rounds = results["config"]["spawn_rounds"]
        assert results["spawn"][variant]["overhead_s"]["n"] == rounds
        assert results["spawn"][variant]["cpu_s"]["n"] == rounds
        assert results["usable"][variant]["usable_s"]["n"] == results["config"]["usable_rounds"]
        assert {"admitted", "refused", "worst_loop_lag_s"} <= set(results["burst"][variant])
        assert "growth_mib" in results["memory"][variant]
    assert set(results["forms"]) == {"15x4", "200x8"}
    queue = results["queue"]
    assert queue["overcommit_gpus"] == 0 and queue["started"] + queue["failed"] == queue["spawns"]
    assert {"mean_wait_s", "worst_wait_8_gpus_s", "worst_loop_lag_s"} <= set(queue)
    assert "## Targets" in page.read_text()
    assert (tmp_path / "benchmarks-verdict.png").stat().st_size > 0
