"""Running commands as in the chart's hub pod: its mounts in a private mount namespace."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from . import chart


def z2jh_bin() -> Path:
    """The bin directory of the chart's hub packages (``make install`` builds it)."""
    venv = Path(os.environ.get("TWCC_Z2JH_VENV", chart.ROOT / ".venv-z2jh"))
    if not (venv / "bin" / "jupyterhub").exists():
        pytest.fail(f"{venv} has no jupyterhub: `make install` builds it from the chart's pins")
    return venv / "bin"


def in_namespace(argv: Sequence[str], binds: Mapping[Path, str]) -> list[str]:
    """``argv`` in a private mount namespace with ``binds`` (local path -> path) mounted."""
    script = " && ".join(
        f"mount --bind {shlex.quote(str(src))} {shlex.quote(dst)}" for src, dst in binds.items()
    )
    mounts = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
    return [*mounts, f'{script} && exec "$@"', "sh", *argv]


def hub_argv(
    objects: list[chart.Obj], tmp: Path, extra_binds: Mapping[Path, str], *args: str
) -> list[str]:
    """The hub's ``jupyterhub`` with ``args``, where the hub Deployment's mounts are.

    ``/usr/local/etc`` gets the staged ConfigMap and Secret (and whatever
    ``tmp/usr-local-etc`` else holds), ``/srv`` the database volume; the command
    runs in ``/srv/jupyterhub``, the image's working directory.
    """
    etc = tmp / "usr-local-etc"
    chart.stage_hub_etc(objects, etc / "jupyterhub")
    srv = tmp / "srv"
    (srv / "jupyterhub").mkdir(parents=True, exist_ok=True)
    binds = {**extra_binds, etc: "/usr/local/etc", srv: "/srv"}
    hub = [str(z2jh_bin() / "jupyterhub"), *args]
    return in_namespace(["sh", "-c", 'cd /srv/jupyterhub && exec "$@"', "sh", *hub], binds)
