"""Soak: many spawn/stop cycles on the emulator; nothing may leak.

    python -m bench.soak --cycles 1000 --users 4

Starts the emulator, configurable-http-proxy and JupyterHub (as ``make demo``
does), then runs ``--cycles`` spawn/stop cycles, ``--users`` at a time. Every
``--sample`` cycles it records the hub's resident memory, open file
descriptors and child processes, and the emulator's pods and events. The
emulator keeps events ``--event-ttl`` seconds (a real API server: one hour), so
that the hub's event cache, which follows them, reaches its steady size within
the run. At the end it checks
that no pod, pod process or file descriptor is left over and that the hub's
memory did not grow by more than ``--max-growth-mb`` after warm-up; it prints the
figures as JSON and exits 1 if anything leaked. CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from twcc_spawner.simulated.emulator import Emulator
from twcc_spawner.simulated.hub_settings import HubSettings
from twcc_spawner.simulated.local_hub import LocalHub

from .cycle import CycleFailed, spawn_and_stop
from .workload import FAST_PULLS

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = [
    {"release": "22.02", "gpus": 1},
    {"release": "21.11", "gpus": 2},
    {"release": "20.11", "gpus": 1},
    {"release": "19.02", "gpus": 4},
]


@dataclass
class Sample:
    cycle: int
    rss_mb: float
    fds: int
    hub_children: int
    pods: int
    events: int


@dataclass
class Soak:
    cycles: int
    users: int
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def cycle(session: requests.Session, url: str, user: str, options: dict[str, Any]) -> str | None:
    """Start a server, wait until it is ready, stop it; an error message or None."""
    try:
        spawn_and_stop(session, url, user, options, timeout=90)
    except CycleFailed as e:
        return str(e)
    return None


def sample(hub: psutil.Process, emulator: Any, number: int) -> Sample:
    async def count(plural: str) -> int:
        return len(list(emulator.emulator.store.items(plural)))

    return Sample(
        number,
        hub.memory_info().rss / 2**20,
        hub.num_fds(),
        len(hub.children(recursive=True)),
        emulator.call(count("pods")),
        emulator.call(count("events")),
    )


def run(cycles: int, users: int, every: int, workdir: Path, event_ttl: float) -> Soak:
    soak = Soak(cycles, users)
    with Emulator.in_thread(
        workdir=workdir / "emulator", event_ttl=event_ttl, image_pull_rate=FAST_PULLS
    ) as emulator:
        settings = HubSettings.throwaway(workdir / "hub", ROOT / "profiles")
        emulator.write_kubeconfig(settings.kubeconfig)
        hub = LocalHub(settings, log_dir=settings.state_dir)
        hub.start()
        try:
            assert hub.hub is not None and hub.hub.process is not None
            process = psutil.Process(hub.hub.process.pid)
            session = requests.Session()
            session.headers["Authorization"] = f"token {settings.admin_token}"
            names = [f"soak{i}" for i in range(users)]
            for name in names:
                session.post(f"{settings.url}/hub/api/users/{name}", timeout=30)
            soak.samples.append(sample(process, emulator, 0))
            done = 0
            with ThreadPoolExecutor(users) as pool:
                while done < cycles:
                    batch = min(users, cycles - done)
                    results = pool.map(
                        lambda i, start=done: cycle(
                            session, settings.url, names[i], OPTIONS[(start + i) % 4]
                        ),
                        range(batch),
                    )
                    soak.failures += [r for r in results if r]
                    done += batch
                    if done % every < batch or done == cycles:
                        soak.samples.append(sample(process, emulator, done))
            pod_processes = [
                p
                for p in psutil.Process().children(recursive=True)
                if "singleuser" in " ".join(p.cmdline())
            ]
            if pod_processes:
                soak.failures.append(f"{len(pod_processes)} pod processes left")
        finally:
            hub.stop()
    return soak


def verdict(soak: Soak, max_growth_mb: float) -> dict[str, Any]:
    first, warm, last = (
        soak.samples[0],
        soak.samples[min(1, len(soak.samples) - 1)],
        soak.samples[-1],
    )
    report = {
        "cycles": soak.cycles,
        "users": soak.users,
        "failures": soak.failures[:10],
        "failed_cycles": len(soak.failures),
        "pods_left": last.pods,
        "hub_fds": [first.fds, warm.fds, last.fds],
        "hub_children": [first.hub_children, last.hub_children],
        "hub_rss_mb": [round(first.rss_mb, 1), round(warm.rss_mb, 1), round(last.rss_mb, 1)],
        "hub_rss_growth_after_warmup_mb": round(last.rss_mb - warm.rss_mb, 1),
        "samples": [s.__dict__ for s in soak.samples],
    }
    report["ok"] = (
        not soak.failures
        and last.pods == 0
        and last.fds <= warm.fds + 5
        and last.hub_children <= first.hub_children
        and last.rss_mb - warm.rss_mb <= max_growth_mb
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--sample", type=int, default=20, help="cycles between samples")
    parser.add_argument("--max-growth-mb", type=float, default=30.0)
    parser.add_argument("--event-ttl", type=float, default=120.0, help="seconds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="twcc-soak-") as tmp:
        soak = run(args.cycles, args.users, args.sample, Path(tmp), args.event_ttl)
    report = verdict(soak, args.max_growth_mb)
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
