"""``python -m bench [--quick]``: TWCCSpawner against plain KubeSpawner, on the emulator.

Writes the results (JSON) and docs/benchmarks.md with its plot.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# KubeSpawner needs a loadable kubeconfig (the API host is set per spawner), and
# kubernetes_asyncio reads KUBECONFIG when first imported: before the bench modules.
# The token is the emulator's admin token (it refuses unknown tokens).
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: bench, user: {token: twcc-emulator-token}}]
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
current-context: bench
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--only",
        default="",
        help="re-run only these comma-separated sections (spawns, verdict, burst, queue, "
        "memory, usable, half_warm) on top of --out's results",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="twcc-bench-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(KUBECONFIG)
        os.environ["KUBECONFIG"] = str(kubeconfig)
        from .report import write
        from .run import SECTIONS, run

        only = tuple(filter(None, args.only.split(",")))
        if unknown := set(only) - set(SECTIONS):
            parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
        previous = json.loads(args.out.read_text()) if only and args.out.exists() else None
        results = run(args.quick, Path(tmp), only, previous)
        write(results, args.out, args.page)
    print(f"wrote {args.out} and {args.page}")


if __name__ == "__main__":
    main()
