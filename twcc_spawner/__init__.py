"""twcc-spawner: a JupyterHub spawner for NGC PyTorch containers on GPU clusters."""

from pathlib import Path

from .catalog import Catalog, CatalogError, Release, Size, load_catalog
from .selection import Selection, SelectionError
from .spawner import TWCCSpawner

HUB_TEMPLATES = str(Path(__file__).parent / "templates" / "hub")
"""For ``c.JupyterHub.template_paths``: the home page shows each running server's selection."""

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
