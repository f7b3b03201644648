"""The start script's checks inside the container, failing on a real hub: each failed check
ends the spawn with its one line, and the pod is deleted.

Broken images are simulated image roots whose stub ``torch`` misbehaves as a broken CUDA
stack would (no device, wrong results, an initialisation that never returns); the missing
GPU and the old driver come from the simulated node. The preflight sees only what the
hub's RBAC lets it see: for the driver case it may not read nodes, so the container's own
check is what catches the driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest

from twcc_spawner.catalog import load_catalog
from twcc_spawner.simulated.emulator import FaultRule
from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.emulator.images import SimulatedImages
from twcc_spawner.simulated.emulator.twcc_images import build_ngc_pytorch, twcc_images
from twcc_spawner.simulated.hub_settings import HubSettings

from .conftest import ROOT, Cluster, HubApi, v100_cluster
from .test_spawn_failures import POD, failed_spawn

pytestmark = pytest.mark.e2e

CATALOG = load_catalog(ROOT / "profiles")
#: torch/cuda.py of a broken image: PyTorch sees no GPU although nvidia-smi lists them.
NO_CUDA_DEVICE = "def device_count():\n    return 0\n\n\ndef _check(device):\n    pass\n"
#: torch/__init__.py of a broken image: a sum on the GPU comes out wrong.
WRONG_SUMS = """from . import cuda

__version__ = "1.11.0a0+b6df043"


class Tensor:
    def __init__(self, values):
        self.values = values

    def __add__(self, other):
        return Tensor([a + b + 1 for a, b in zip(self.values, other.values)])

    def sum(self):
        return Tensor([sum(self.values)])

    def item(self):
        return self.values[0]


def ones(size, device="cpu"):
    return Tensor([1.0] * size)
"""
#: torch/__init__.py of a broken image: CUDA initialisation never returns.
HANGS = "import time\n\nwhile True:\n    time.sleep(1)\n"


class Case(NamedTuple):
    """A broken container: its cluster, image, hub settings, and the line it must fail with."""

    release: str
    line: str
    cluster: Any = None
    torch: dict[str, str] = {}
    spawner: dict[str, Any] = {}
    faults: tuple[FaultRule, ...] = ()


CASES = {
    "fewer-gpus-than-allocated": Case(
        "21.11",
        "The container sees 1 GPU(s) but 2 were allocated (nvidia-smi -L: GPU 0: Tesla ",
        cluster=v100_cluster(annotations={"twcc.ai/simulate-missing-gpus": "1"}),
    ),
    "pytorch-sees-no-gpu": Case(
        "21.11",
        "CUDA does not work in this container: PyTorch sees 0 GPU(s), expected 2",
        torch={"cuda.py": NO_CUDA_DEVICE},
    ),
    "wrong-result": Case(
        "21.11",
        "CUDA does not work in this container: a tensor operation on GPU 0 gave a wrong result",
        torch={"__init__.py": WRONG_SUMS},
    ),
    "cuda-check-timeout": Case(
        "21.11",
        "CUDA did not initialise on the 2 GPU(s) within 2s",  # the script's exit 124 branch
        torch={"__init__.py": HANGS},
        spawner={"cuda_check_timeout": 2},
    ),
    "driver-too-old": Case(
        "22.02",
        "NVIDIA driver 465.19.01 on this node cannot run 22.02 images: they need 510 or newer "
        "or a data-center branch at least 418.40, 440.33, 450.51, 460.27, 470.57",
        cluster=v100_cluster(gpu={**v100_cluster()["defaults"]["gpu"], "driver": "465.19.01"}),
        faults=(FaultRule(path=r"^/api/v1/nodes", status=403),),  # the preflight cannot see
    ),
}


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


@pytest.fixture
def cluster(case: Case) -> Any:
    return case.cluster


@pytest.fixture
def images(case: Case, tmp_path: Path) -> SimulatedImages:
    """The catalog's images, with the case's release's stub torch files replaced."""
    versions = {r.release: r.pytorch for r in CATALOG.releases}
    if not case.torch:
        return twcc_images(versions)
    root = tmp_path / f"broken-{case.release}"
    build_ngc_pytorch(root, versions[case.release])
    for name, text in case.torch.items():
        (root / "opt" / "conda" / "simulated-site-packages" / "torch" / name).write_text(text)
    image = CATALOG.release(case.release).image_ref("nvcr.io/nvidia/pytorch")
    return twcc_images(versions, roots={image: root})


@pytest.fixture
def hub_settings(hub_settings: HubSettings, case: Case, emulator: ThreadedEmulator) -> HubSettings:
    for rule in case.faults:
        emulator.emulator.faults.add(rule)
    spawner = {**hub_settings.spawner, **case.spawner}
    return HubSettings(**{**hub_settings.__dict__, "spawner": spawner})


@pytest.mark.parametrize("case", list(CASES), indirect=True)
def test_a_failed_check_ends_the_spawn_with_its_line(case: Case, api: HubApi, k8s: Cluster) -> None:
    gpus = 2 if case.release == "21.11" else 1
    message = failed_spawn(api, k8s, release=case.release, gpus=gpus)
    assert message.startswith(f"The main container 'notebook' exited with code 1: {case.line}"), (
        message
    )
    assert k8s.created == [POD]
    assert all(rule.hits > 0 for rule in case.faults)
