"""``python -m twcc_spawner.simulated.emulator``: run the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from .cluster import DEFAULT_CLUSTER
from .emulator import Emulator


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="SIMULATED Kubernetes cluster with GPU nodes")
    parser.add_argument("--cluster", type=Path, default=DEFAULT_CLUSTER, help="cluster YAML")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig here")
    parser.add_argument("--workdir", type=Path, help="pod files and PVC data (default: temp)")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Emulator(args.cluster, args.host, args.port, args.workdir) as emulator:
        if args.kubeconfig:
            emulator.write_kubeconfig(args.kubeconfig)
        print(f"SIMULATED Kubernetes API ready at {emulator.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the CLI."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
