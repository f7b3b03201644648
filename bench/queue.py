"""A burst with departures: more GPU requests than GPUs, servers stopping at random.

Real TWCCSpawners with the queue on, against :mod:`.apiserver`: every spawn asks
for 1, 2, 4 or 8 GPUs at once; a spawn whose pod is created counts as a running
server, which stops (its spawn is cancelled: the reservation and the pod go)
after a random lifetime. Reported: GPUs over-committed (any node's free GPUs
below zero at any pod create; must be 0), the waits (request to pod create) by
size, the worst for 8 GPUs, and the hub loop's worst lag.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from twcc_spawner.preflight.spawner_mixin import GpuPreflight

from .hub import ApiServerProcess, Spawn, make_spawner
from .spawns import _ticker
from .stats import summary

#: Sizes of the shipped catalog and how often they are asked for.
SIZES = {"c.super": (1, 0.4), "c.xsuper": (2, 0.3), "c.2xsuper": (4, 0.2), "c.4xsuper": (8, 0.1)}


async def queue_burst(
    server: ApiServerProcess,
    profiles: Path,
    spawns: int,
    lifetime: tuple[float, float],
    seed: int = 19,
) -> dict[str, Any]:
    """``spawns`` simultaneous requests of mixed sizes; servers live ``lifetime`` seconds."""
    rng = random.Random(seed)
    names = list(SIZES)
    weights = [SIZES[n][1] for n in names]
    # No home volumes: the queue is measured, not the API server's PVC creates.
    config = {
        "queue_max_wait": 3600.0,
        "queue_interval": 0.1,
        "start_timeout": 3600,
        "storage_pvc_ensure": False,
    }
    burst = []
    for i in range(spawns):
        size = rng.choices(names, weights)[0]
        spawn = Spawn(make_spawner("twcc", server.url, profiles, f"q{i}", **config))
        spawn.spawner.user_options = {**spawn.spawner.user_options, "size": size}
        burst.append((size, spawn))
    worst_lag = [0.0]
    ticker = asyncio.ensure_future(_ticker(worst_lag))
    overcommit = 0
    waits: dict[str, list[float]] = {n: [] for n in names}
    failures: list[str] = []

    async def run(size: str, spawn: Spawn) -> None:
        nonlocal overcommit
        spawn.start()
        error = await spawn.decided()
        if error is not None:
            failures.append(repr(error))
            return
        waits[size].append(time.monotonic() - spawn.started)
        state = GpuPreflight._cluster_watch.state  # type: ignore[union-attr]
        overcommit = max(overcommit, *(-min(0, state.free(n).gpus) for n in state.nodes))
        await asyncio.sleep(rng.uniform(*lifetime))
        await spawn.end(server)

    started = time.monotonic()
    await asyncio.gather(*(run(size, spawn) for size, spawn in burst))
    wall = time.monotonic() - started
    ticker.cancel()
    every = [w for ws in waits.values() for w in ws]
    return {
        "spawns": spawns,
        "started": len(every),
        "failed": len(failures),
        "failures": failures[:3],
        "overcommit_gpus": overcommit,
        "mean_wait_s": sum(every) / len(every) if every else None,
        "wait_s": {n: summary(ws) for n, ws in waits.items() if ws},
        "worst_wait_8_gpus_s": max(waits["c.4xsuper"], default=None),
        "worst_loop_lag_s": worst_lag[0],
        "wall_s": wall,
        "lifetime_s": list(lifetime),
    }
