"""A stand-in ``nvidia-smi`` reporting the GPUs the device plugin granted a pod.

A node's GPUs have fixed UUIDs (:func:`gpu_uuid`); the kubelet hands a pod the
lowest free ones and names them in ``NVIDIA_VISIBLE_DEVICES``, as the NVIDIA
device plugin does, and nvidia-smi lists those same UUIDs (numbered from 0
inside the container).
"""

from __future__ import annotations

import sys
import uuid
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
    "uuid": lambda i: INFO["uuids"][i],
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


def gpu_uuid(node: str, index: int) -> str:
    """The UUID of GPU ``index`` of ``node`` (stable, in NVIDIA's ``GPU-<uuid>`` form)."""
    return f"GPU-{uuid.uuid5(uuid.NAMESPACE_URL, f'twcc-emulator:{node}/gpu/{index}')}"


def visible_devices(node: str, indices: list[int]) -> str:
    """``NVIDIA_VISIBLE_DEVICES`` for the GPUs ``indices`` of ``node``."""
    return ",".join(gpu_uuid(node, i) for i in indices)


def gpu_info(node: Obj | None, indices: list[int]) -> dict[str, Any]:
    """What nvidia-smi reports on ``node`` given its GPUs ``indices``."""
    meta = (node or {}).get("metadata", {})
    labels = meta.get("labels", {})
    missing = int(meta.get("annotations", {}).get(MISSING_GPUS_ANNOTATION, 0))
    driver = labels.get("nvidia.com/cuda.driver-version.full") or ".".join(
        labels.get(f"nvidia.com/cuda.driver.{part}", "0") for part in ("major", "minor", "rev")
    )
    product = labels.get("nvidia.com/gpu.product", "Unknown-GPU")
    visible = indices[: max(len(indices) - missing, 0)]
    return {
        "count": len(visible),
        "uuids": [gpu_uuid(meta.get("name", ""), i) for i in visible],
        "name": product.replace("-", " ", 1),
        "driver": driver,
        "memory": labels.get("nvidia.com/gpu.memory", "0"),
        "cuda": ".".join(
            labels.get(f"nvidia.com/cuda.runtime-version.{p}", "0") for p in ("major", "minor")
        ),
        "compute": ".".join(
            labels.get(f"nvidia.com/gpu.compute.{p}", "0") for p in ("major", "minor")
        ),
    }


def install(bin_dir: Path, info: dict[str, Any]) -> Path:
    """Write the ``nvidia-smi`` script into ``bin_dir`` and return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "nvidia-smi"
    body = _SCRIPT.replace("__INFO__", repr(info))
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    return script
