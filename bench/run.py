"""Every measurement, each scenario in its own event loop (KubeSpawner's API client is
shared per loop, so a new API server needs a new loop)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import workload
from .forms import form_render
from .halfwarm import half_warm
from .hub import VARIANTS, api_server, reset
from .queue import queue_burst
from .report import machine
from .spawns import burst, spawn_overhead
from .usable import time_to_usable
from .verdict import verdict_time


@dataclass(frozen=True)
class Config:
    """Sizes and repetitions of one run."""

    quick: bool
    spawn_nodes: int = 1000
    spawn_pods_per_node: int = 20
    spawn_rounds: int = 60
    forms: tuple[tuple[int, int], ...] = ((15, 4), (200, 8))
    form_rounds: int = 20
    verdict_nodes: tuple[int, ...] = (10, 100, 1000, 5000)
    verdict_rounds: int = 200
    burst_spawns: int = 200
    burst_free_gpus: int = 100
    queue_nodes: int = 100
    queue_spawns: int = 200
    queue_free_gpus: int = 100
    queue_lifetime: tuple[float, float] = (1.0, 4.0)
    memory_nodes: int = 5000
    memory_pods_per_node: int = 50
    usable_rounds: int = 10
    half_warm_rounds: int = 30
    half_warm_rate: float = 100e6

    @property
    def spawn_cluster(self) -> str:
        return f"{self.spawn_nodes} nodes, {self.spawn_nodes * self.spawn_pods_per_node} pods"

    @property
    def memory_cluster(self) -> str:
        return f"{self.memory_nodes} nodes, {self.memory_nodes * self.memory_pods_per_node} pods"


QUICK = Config(
    quick=True,
    spawn_nodes=50,
    spawn_rounds=3,
    form_rounds=3,
    verdict_nodes=(10, 100),
    verdict_rounds=20,
    burst_spawns=20,
    burst_free_gpus=20,
    queue_nodes=20,
    queue_spawns=30,
    queue_free_gpus=24,
    queue_lifetime=(0.2, 0.6),
    memory_nodes=50,
    memory_pods_per_node=10,
    usable_rounds=1,
    half_warm_rounds=1,
    half_warm_rate=10e9,
)


async def _spawns_and_forms(config: Config, tmp: Path) -> dict[str, Any]:
    profiles = workload.write_catalog(tmp / "15x4", 15, 4)
    async with api_server(config.spawn_nodes, config.spawn_pods_per_node) as server:
        spawn = await spawn_overhead(server, profiles, config.spawn_rounds)
        forms = {}
        for releases, sizes in config.forms:
            catalog = workload.write_catalog(tmp / f"{releases}x{sizes}", releases, sizes)
            forms[f"{releases}x{sizes}"] = await form_render(server, catalog, config.form_rounds)
        await reset()
    return {"spawn": spawn, "forms": forms}


async def _burst(config: Config, variant: str, tmp: Path) -> dict[str, Any]:
    profiles = workload.write_catalog(tmp / "burst", 15, 4)
    async with api_server(
        config.spawn_nodes, config.spawn_pods_per_node, config.burst_free_gpus
    ) as server:
        result = await burst(server, variant, profiles, config.burst_spawns, config.burst_free_gpus)
        await reset()
    return result


async def _queue(config: Config, tmp: Path) -> dict[str, Any]:
    profiles = workload.write_catalog(tmp / "queue", 15, 4)
    async with api_server(
        config.queue_nodes, config.spawn_pods_per_node, config.queue_free_gpus, per_node=8
    ) as server:
        result = await queue_burst(server, profiles, config.queue_spawns, config.queue_lifetime)
        await reset()
    return {**result, "free_gpus": config.queue_free_gpus}


async def _memory(config: Config) -> dict[str, Any]:
    results = {}
    async with api_server(config.memory_nodes, config.memory_pods_per_node) as server:
        for variant in VARIANTS:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.memory",
                variant,
                server.url,
                stdout=asyncio.subprocess.PIPE,
                cwd=Path(__file__).resolve().parent.parent,
            )
            out, _ = await child.communicate()
            results[variant] = json.loads(out)
    return results


def _sections(config: Config, tmp: Path) -> dict[str, Callable[[], dict[str, Any]]]:
    """Each section of the results, by name, as a call that measures it."""
    profiles = workload.SHIPPED_PROFILES
    return {
        "spawns": lambda: asyncio.run(_spawns_and_forms(config, tmp)),
        "verdict": lambda: {
            "verdict": asyncio.run(
                verdict_time(list(config.verdict_nodes), 50, profiles, config.verdict_rounds)
            )
        },
        "burst": lambda: {"burst": {v: asyncio.run(_burst(config, v, tmp)) for v in VARIANTS}},
        "queue": lambda: {"queue": asyncio.run(_queue(config, tmp))},
        "memory": lambda: {"memory": asyncio.run(_memory(config))},
        "usable": lambda: {"usable": time_to_usable(config.usable_rounds, tmp / "usable")},
        "half_warm": lambda: {
            "half_warm": half_warm(
                config.half_warm_rounds, tmp / "half-warm", config.half_warm_rate
            )
        },
    }


#: The sections ``--only`` may name.
SECTIONS = tuple(_sections(Config(quick=False), Path()))


def run(
    quick: bool, tmp: Path, only: tuple[str, ...] = (), previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """All measurements (or, with ``only``, those sections, on top of ``previous``);
    ``tmp`` holds the synthetic catalogs."""
    config = QUICK if quick else Config(quick=False)
    sections = _sections(config, tmp)
    if only:
        if previous is None or previous["config"]["quick"] != quick:
            raise SystemExit("--only re-runs sections of a previous run of the same mode")
        results = {**previous, "rerun": {**previous.get("rerun", {})}}
        for name in only:
            results |= sections[name]()
            results["rerun"][name] = machine()["date"]
        return results
    results: dict[str, Any] = {"machine": machine()}
    for measure in sections.values():
        results |= measure()
    results["config"] = {
        **asdict(config),
        "spawn_cluster": config.spawn_cluster,
        "memory_cluster": config.memory_cluster,
    }
    return results
