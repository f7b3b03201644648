"""SIMULATED stand-ins for the images twcc-spawner starts (see :mod:`.images`).

* An NGC PyTorch image (``.../pytorch:22.02-py3``): ``/opt/conda/bin/python`` runs a
  local Python that imports a stub ``torch`` reporting the catalog's PyTorch
  version, whose CUDA "works" on the GPUs ``nvidia-smi -L`` lists.
* The server-env image (``.../server-env:<tag>``): ``/opt/twcc-server-env`` is a
  relocatable environment made from the local one (a venv-style ``bin/python3``
  whose packages are those of the Python running the emulator), laid out like
  the real image's (see ``images/server-env``).
"""

from __future__ import annotations

import json
import re
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

import jupyterhub

from ...bootstrap.container import IMAGE_ENV_DIR
from .image_store import Registry, SizeRule
from .images import ImageRule, RootBuilder, SimulatedImages

#: The manifest every server environment carries at its top.
MANIFEST = "twcc-server-env.json"

_NGC_TAG = re.compile(r"/pytorch:(\d\d\.\d\d)-py3")
_NGC_PYTORCH = re.compile(r"^nvcr\.io/nvidia/pytorch:(\d\d)\.(0[1-9]|1[0-2])-py3(-v\d+)?$")
_SERVER_ENV = re.compile(r"/server-env:[A-Za-z0-9._-]+$")

#: Size of an NGC PyTorch image whose catalog entry has no ``image_size``: an ESTIMATE
#: (unverified; NGC PyTorch images of 2018-2022 are several GB compressed).
NGC_PYTORCH_SIZE_ESTIMATE = 6_000_000_000
#: Size of the server-env image: an ESTIMATE (a Python environment with JupyterLab).
SERVER_ENV_SIZE_ESTIMATE = 300_000_000

_TORCH = '''"""SIMULATED torch (twcc-spawner emulator): the image's version, no real tensors."""

from . import cuda

__version__ = {version!r}


class Tensor:
    def __init__(self, values, device):
        self.values, self.device = list(values), device

    def __add__(self, other):
        return Tensor([a + b for a, b in zip(self.values, other.values)], self.device)

    def sum(self):
        return Tensor([sum(self.values)], self.device)

    def item(self):
        return self.values[0]


def ones(size, device="cpu"):
    cuda._check(str(device))
    return Tensor([1.0] * size, device)
'''

_CUDA = '''"""SIMULATED torch.cuda: the GPUs are those the stand-in nvidia-smi lists."""

import subprocess


def device_count():
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], stdout=subprocess.PIPE, universal_newlines=True
        ).stdout
    except OSError:
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def is_available():
    return device_count() > 0


def _check(device):
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if index >= device_count():
            raise RuntimeError("CUDA error: invalid device ordinal")
'''


# What pip writes as the console script (its #! line is not used: python3 runs it).
_SINGLEUSER = """#!/opt/twcc-server-env/bin/python3
import sys
from jupyterhub.singleuser import main
sys.exit(main())
"""


def build_ngc_pytorch(root: Path, pytorch_version: str, python: str = sys.executable) -> None:
    """An NGC PyTorch image root whose ``/opt/conda/bin/python`` is ``python`` + stub torch."""
    site = root / "opt" / "conda" / "simulated-site-packages"
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text(_TORCH.format(version=pytorch_version))
    (site / "torch" / "cuda.py").write_text(_CUDA)
    wrapper = root / "opt" / "conda" / "bin" / "python"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(
        "#!/bin/sh\n"
        "# SIMULATED /opt/conda/bin/python of an NGC PyTorch image (twcc-spawner emulator)\n"
        f'site="$(cd "$(dirname "$0")/.." && pwd)/{site.name}"\n'
        f'PYTHONPATH="$site${{PYTHONPATH:+:$PYTHONPATH}}" exec "{python}" "$@"\n'
    )
    wrapper.chmod(0o755)


def build_server_env(env: Path, python: str = sys.executable) -> None:
    """A relocatable server environment at ``env`` using ``python``'s packages.

    Moving or copying ``env`` keeps it working: ``bin/python3`` finds its
    ``pyvenv.cfg`` one level up, wherever that is.
    """
    base = Path(getattr(sys, "_base_executable", python)).resolve()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python3").symlink_to(base)
    (env / "bin" / "jupyterhub-singleuser").write_text(_SINGLEUSER)
    (env / "pyvenv.cfg").write_text(
        f"home = {base.parent}\ninclude-system-site-packages = false\n"
        f"version = {sys.version.split()[0]}\n"
    )
    site = env / "lib" / f"python{version}" / "site-packages"
    site.mkdir(parents=True)
    packages = sysconfig.get_paths()["purelib"]
    for data in ("etc", "share"):  # Jupyter's config (enabled extensions) and JupyterLab's app
        (env / data).symlink_to(Path(sysconfig.get_paths()["data"], data))
    (site / "twcc-simulated-host.pth").write_text(f"import site; site.addsitedir({packages!r})\n")
    manifest = {
        "layout": 1,
        "python": version,
        "jupyterhub": jupyterhub.__version__,
        "glibc_baseline": None,
        "kernel_support": [],
        "simulated": True,
    }
    (env / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _server_env_root(root: Path) -> None:
    build_server_env(root / IMAGE_ENV_DIR.lstrip("/"))


def twcc_registry(
    ngc_sizes: Mapping[str, int] | None = None, images: Mapping[str, int] | None = None
) -> Registry:
    """The simulated registry: every monthly NGC PyTorch tag and any server-env image.

    ``ngc_sizes`` maps a release (``"22.02"``) to its image's size (the catalog's
    ``image_size``); others weigh :data:`NGC_PYTORCH_SIZE_ESTIMATE`. ``images`` adds
    more references with their sizes (a cluster description's ``registry``).
    """
    sizes = dict(ngc_sizes or {})

    def ngc(name: str) -> int | None:
        match = _NGC_PYTORCH.match(name)
        if match is None:
            return None
        return sizes.get(f"{match.group(1)}.{match.group(2)}", NGC_PYTORCH_SIZE_ESTIMATE)

    def server_env(name: str) -> int | None:
        return SERVER_ENV_SIZE_ESTIMATE if _SERVER_ENV.search(name) else None

    rules: tuple[SizeRule, ...] = (ngc, server_env)
    return Registry(dict(images or {}), rules)


def catalog_registry(profiles_dir: Path, images: Mapping[str, int] | None = None) -> Registry:
    """:func:`twcc_registry` with the catalog's image sizes (and a release's own image)."""
    from ...catalog import load_catalog

    catalog = load_catalog(profiles_dir)
    own = {r.image: r.image_size or NGC_PYTORCH_SIZE_ESTIMATE for r in catalog.releases if r.image}
    sizes = {r.release: r.image_size for r in catalog.releases if r.image_size}
    return twcc_registry(sizes, {**own, **(images or {})})


def catalog_images(profiles_dir: Path) -> SimulatedImages:
    """:func:`twcc_images` whose stub torch reports each release's PyTorch from the catalog."""
    from ...catalog import load_catalog

    catalog = load_catalog(profiles_dir)
    return twcc_images({r.release: r.pytorch for r in catalog.releases})


def twcc_images(
    pytorch_versions: Mapping[str, str] | None = None, roots: Mapping[str, Path] | None = None
) -> SimulatedImages:
    """Simulated NGC PyTorch and server-env images, built on first use.

    ``pytorch_versions`` maps a release (``"22.02"``) to the version its stub
    torch reports (the catalog's); releases not in it report ``0+simulated.<release>``.
    """
    versions = dict(pytorch_versions or {})

    def ngc(image: str) -> RootBuilder | None:
        match = _NGC_TAG.search(image)
        if match is None:
            return None
        version = versions.get(match.group(1), f"0+simulated.{match.group(1)}")
        return lambda root: build_ngc_pytorch(root, version)

    def server_env(image: str) -> RootBuilder | None:
        name = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
        return _server_env_root if name == "server-env" else None

    rules: tuple[ImageRule, ...] = (ngc, server_env)
    return SimulatedImages(roots, rules)
