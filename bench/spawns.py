"""Spawns against the API server: hub-side overhead, requests per spawn, a burst."""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from pathlib import Path
from typing import Any

from twcc_spawner.preflight.spawner_mixin import GpuPreflight
from twcc_spawner.refusal import SpawnRefusal

from .hub import SIZE_GPUS, VARIANTS, ApiServerProcess, Spawn, make_spawner
from .stats import summary

SETTLE_SECONDS = 0.2


async def _one(server: ApiServerProcess, variant: str, profiles: Path, user: str) -> dict[str, Any]:
    spawn = Spawn(make_spawner(variant, server.url, profiles, user))
    await asyncio.sleep(SETTLE_SECONDS)  # the previous spawn's watch events are in
    gc.collect()
    await server.requests(clear=True)
    spawn.start()
    error = await spawn.decided()
    if error is not None:
        raise RuntimeError(f"{variant}: the spawn created no pod: {error!r}") from error
    assert spawn.created is not None
    cpu = spawn.created.result()
    logged = await server.requests()
    await spawn.end(server)
    arrival = next(r.at for r in logged if r.method == "POST" and r.path.endswith("/pods"))
    own = [r for r in logged if r.at <= arrival and not r.is_list_or_watch]
    return {
        "overhead": arrival - spawn.started,
        "cpu": cpu,
        "requests": [f"{r.method} {r.path.split('?')[0]}" for r in own],
    }


async def spawn_overhead(server: ApiServerProcess, profiles: Path, rounds: int) -> dict[str, Any]:
    """Time from ``start()`` to the pod's create request, interleaving the two spawners.

    Also the hub process's CPU time until the pod was created, which the other
    processes on the machine do not inflate. One warm-up spawn each first starts
    the shared caches; the order alternates every round.
    """
    for variant in VARIANTS:
        await _one(server, variant, profiles, f"warm-{variant}")
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    requests: dict[str, Counter[str]] = {v: Counter() for v in VARIANTS}
    for i in range(rounds):
        for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
            result = await _one(server, variant, profiles, f"{variant}-{i}")
            samples[variant].append(result["overhead"])
            cpu[variant].append(result["cpu"])
            requests[variant].update(result["requests"])
    return {
        v: {
            "overhead_s": summary(samples[v]),
            "cpu_s": summary(cpu[v]),
            "requests_per_spawn": sum(requests[v].values()) / rounds,
            "requests": {k: n / rounds for k, n in sorted(requests[v].items())},
        }
        for v in VARIANTS
    }


async def _ticker(worst: list[float], interval: float = 0.001) -> None:
    while True:
        before = time.monotonic()
        await asyncio.sleep(interval)
        worst[0] = max(worst[0], time.monotonic() - before - interval)


async def burst(
    server: ApiServerProcess, variant: str, profiles: Path, spawns: int, free_gpus: int
) -> dict[str, Any]:
    """``spawns`` simultaneous spawns; admitted, refused, GPUs promised, worst loop lag."""
    # Refusals are measured here (no queue); bench.queue measures the wait.
    config = {"queue_enabled": False} if variant == "twcc" else {}
    warm = Spawn(make_spawner(variant, server.url, profiles, f"warm-burst-{variant}", **config))
    warm.start()
    await warm.decided()
    await warm.end(server)
    burst = [
        Spawn(make_spawner(variant, server.url, profiles, f"b{variant}{i}", **config))
        for i in range(spawns)
    ]
    worst = [0.0]
    ticker = asyncio.ensure_future(_ticker(worst))
    started = time.monotonic()
    for spawn in burst:
        spawn.start()
    outcomes = await asyncio.gather(*(spawn.decided() for spawn in burst))
    wall = time.monotonic() - started
    ticker.cancel()
    watch = GpuPreflight._cluster_watch
    promised: Counter[str] = Counter()
    if variant == "twcc" and watch is not None:
        for reservation in watch.state.reservations.values():
            promised[reservation.node] += reservation.usage.gpus
    refusals = [o for o in outcomes if isinstance(o, SpawnRefusal)]
    messages = Counter(str(o.jupyterhub_message) for o in refusals)
    # "Could not create pod default/jupyter-x": grouped without the object's name
    errors = Counter(
        f"{type(o).__name__}: {str(o).rsplit(' ', 1)[0]}"
        for o in outcomes
        if o is not None and o not in refusals
    )
    admitted = sum(o is None for o in outcomes)
    for spawn in burst:
        await spawn.end(server)
    return {
        "spawns": spawns,
        "free_gpus": free_gpus,
        "admitted": admitted,
        "refused": len(refusals),
        "failed": sum(errors.values()),
        "refusal_messages": dict(messages),
        "errors": dict(errors),
        "gpus_admitted": SIZE_GPUS * admitted,
        "overcommit_gpus": max(0, SIZE_GPUS * admitted - free_gpus),
        "reserved_by_node_max": max(promised.values(), default=0),
        "wall_s": wall,
        "worst_loop_lag_s": worst[0],
    }
