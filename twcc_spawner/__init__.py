"""twcc-spawner: a JupyterHub spawner for NGC PyTorch containers on GPU clusters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import Catalog, CatalogError, Release, Size, load_catalog
from .selection import Selection, SelectionError

if TYPE_CHECKING:
    from .spawner import TWCCSpawner

HUB_TEMPLATES = str(Path(__file__).parent / "templates" / "hub")
"""For ``c.JupyterHub.template_paths``: the home page shows each running server's selection."""


def __getattr__(name: str) -> Any:
    """``TWCCSpawner``, looked up on every access, so that a hub loading its
    configuration (``spawner_class = "twcc"``) checks it at start-up
    (:mod:`twcc_spawner.startup`)."""
    if name != "TWCCSpawner":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .spawner import TWCCSpawner
    from .startup import check_at_hub_start

    check_at_hub_start(TWCCSpawner)
    return TWCCSpawner


__all__ = [
    "HUB_TEMPLATES",
    "Catalog",
    "CatalogError",
    "Release",
    "Selection",
    "SelectionError",
    "Size",
    "TWCCSpawner",
    "load_catalog",
]
