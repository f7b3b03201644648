"""The emulator's API server over a large synthetic cluster, in its own process.

Only the store and the API server run: no scheduler or kubelet, whose passes
over every pod would share the benchmarked hub's CPU and would start processes
for thousands of pods. A spawn's pod stays Pending, which is enough: the
benchmarks end at its create request. ``/bench/requests`` returns (GET) or
clears (DELETE) the server's request log; timestamps are ``time.monotonic()``,
the same clock in every process on Linux.

Run as ``python -m bench.apiserver NODES PODS_PER_NODE [FREE_GPUS]``; it prints
its URL on one line and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from twcc_spawner.simulated.emulator.emulator import NAMESPACES
from twcc_spawner.simulated.emulator.faults import Faults
from twcc_spawner.simulated.emulator.server import ApiServer
from twcc_spawner.simulated.emulator.serviceaccounts import create_default_service_accounts
from twcc_spawner.simulated.emulator.store import Store

from . import workload


def build_store(nodes: int, pods_per_node: int, free_gpus: int | None, per_node: int = 4) -> Store:
    """A store with the namespaces, ``nodes`` nodes and their pods."""
    store = Store(history_size=100)
    create_default_service_accounts(store)  # pods are admitted only with their account
    for name in (*NAMESPACES, workload.JOB_NAMESPACE):
        store.create("namespaces", {"metadata": {"name": name}, "status": {"phase": "Active"}})
    for node in workload.nodes(nodes):
        store.create("nodes", node)
    free = workload.mixed_free if free_gpus is None else workload.few_free(free_gpus, per_node)
    for pod in workload.pods(nodes, pods_per_node, free):
        store.create("pods", pod)
    return store


def app(store: Store) -> web.Application:
    """The emulator's API application plus the request-log route."""
    server = ApiServer(store, Faults(), lambda pod, query: None)
    application = server.app()

    async def requests(request: web.Request) -> web.Response:
        logged = [list(r) for r in server.requests]
        if request.method == "DELETE":
            server.requests.clear()
        return web.json_response(logged)

    application.router.add_route("*", "/bench/requests", requests)
    return application


async def serve(nodes: int, pods_per_node: int, free_gpus: int | None, per_node: int) -> None:
    """Serve on a free port, print the URL, stop when stdin closes."""
    store = build_store(nodes, pods_per_node, free_gpus, per_node)
    runner = web.AppRunner(app(store), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nodes", type=int)
    parser.add_argument("pods_per_node", type=int)
    parser.add_argument("free_gpus", type=int, nargs="?")
    parser.add_argument("--per-node", type=int, default=4, help="free GPUs per node")
    args = parser.parse_args()
    asyncio.run(serve(args.nodes, args.pods_per_node, args.free_gpus, args.per_node))


if __name__ == "__main__":
    main()
