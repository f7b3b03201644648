"""Hub RSS growth when the caches fill, one spawner kind per fresh process.

Run as ``python -m bench.memory VARIANT URL``: prints one JSON object. TWCC's
caches are the preflight's watch (every node and pod, compact) plus
KubeSpawner's reflectors; plain KubeSpawner's are its reflectors only (the
hub's user pods and their events, as full objects).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from pathlib import Path

import psutil

from .hub import make_spawner, reset
from .workload import SHIPPED_PROFILES


def _peak_rss() -> int:
    """This process's peak RSS in bytes (``VmHWM``; ``ru_maxrss`` would carry over the
    parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def measure(variant: str, url: str) -> dict[str, float]:
    """RSS before and after the caches are loaded, and the peak, in MiB."""
    process = psutil.Process()
    spawner = make_spawner(variant, url, SHIPPED_PROFILES, "memory")
    gc.collect()
    before = process.memory_info().rss
    await asyncio.gather(spawner._start_watching_pods(), spawner._start_watching_events())
    if variant == "twcc":
        await spawner.cluster_watch().wait_synced(600)
    gc.collect()
    after = process.memory_info().rss
    peak = _peak_rss()
    await reset()
    mib = 1024 * 1024
    return {
        "before_mib": before / mib,
        "growth_mib": (after - before) / mib,
        "peak_mib": peak / mib,
    }


def main() -> None:
    variant, url = sys.argv[1:3]
    print(json.dumps(asyncio.run(measure(variant, url))))


if __name__ == "__main__":
    main()
