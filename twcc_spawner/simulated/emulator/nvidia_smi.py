"""A stand-in ``nvidia-smi`` reporting the GPUs the scheduler granted a pod."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .store import Obj

#: Node annotation making nvidia-smi report this many fewer GPUs than granted (for tests).
MISSING_GPUS_ANNOTATION = "twcc.ai/simulate-missing-gpus"

_SCRIPT = r"""
import sys

INFO = __INFO__
FIELDS = {
    "name": lambda i: INFO["name"],
    "driver_version": lambda i: INFO["driver"],
    "memory.total": lambda i: f"{INFO['memory']} MiB",
    "index": lambda i: str(i),
    "uuid": lambda i: f"GPU-{INFO['uid']}-{i:04d}",
    "count": lambda i: str(INFO["count"]),
    "compute_cap": lambda i: INFO["compute"],
}


def main(args):
    count = INFO["count"]
    if count <= 0:
        print("No devices were found")
        return 6
    query = next((a.split("=", 1)[1] for a in args if a.startswith("--query-gpu=")), None)
    if "-L" in args or "--list-gpus" in args:
        for i in range(count):
            print(f"GPU {i}: {INFO['name']} (UUID: {FIELDS['uuid'](i)})")
    elif query:
        names = [n.strip() for n in query.split(",")]
        unknown = [n for n in names if n not in FIELDS]
        if unknown:
            print(f'Field "{unknown[0]}" is not a valid field to query.', file=sys.stderr)
            return 2
        fmt = next((a.split("=", 1)[1] for a in args if a.startswith("--format=")), "csv")
        if "noheader" not in fmt:
            print(", ".join(n + (" [MiB]" if n == "memory.total" else "") for n in names))
        for i in range(count):
            values = [FIELDS[n](i) for n in names]
            if "nounits" in fmt:
                values = [v.removesuffix(" MiB") for v in values]
            print(", ".join(values))
    else:
        print(f"+ SIMULATED NVIDIA-SMI {INFO['driver']}   Driver Version: {INFO['driver']}"
              f"   CUDA Version: {INFO['cuda']} (twcc-spawner emulator)")
        print("| GPU  Name                        | Memory-Usage         |")
        for i in range(count):
            print(f"| {i:3d}  {INFO['name']:<26} | 0MiB / {INFO['memory']}MiB |")
    return 0


sys.exit(main(sys.argv[1:]))
"""


def gpu_info(pod: Obj, node: Obj | None, granted: int) -> dict[str, Any]:
    """What nvidia-smi reports for ``pod`` on ``node``."""
    meta = (node or {}).get("metadata", {})
    labels = meta.get("labels", {})
    missing = int(meta.get("annotations", {}).get(MISSING_GPUS_ANNOTATION, 0))
    driver = labels.get("nvidia.com/cuda.driver-version.full") or ".".join(
        labels.get(f"nvidia.com/cuda.driver.{part}", "0") for part in ("major", "minor", "rev")
    )
    product = labels.get("nvidia.com/gpu.product", "Unknown-GPU")
    return {
        "count": max(granted - missing, 0),
        "name": product.replace("-", " ", 1),
        "driver": driver,
        "memory": labels.get("nvidia.com/gpu.memory", "0"),
        "cuda": ".".join(
            labels.get(f"nvidia.com/cuda.runtime-version.{p}", "0") for p in ("major", "minor")
        ),
        "compute": ".".join(
            labels.get(f"nvidia.com/gpu.compute.{p}", "0") for p in ("major", "minor")
        ),
        "uid": pod["metadata"]["uid"][:8],
    }


def install(bin_dir: Path, info: dict[str, Any]) -> Path:
    """Write the ``nvidia-smi`` script into ``bin_dir`` and return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "nvidia-smi"
    body = _SCRIPT.replace("__INFO__", repr(info))
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    return script
