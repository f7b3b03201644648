"""twcc-spawner: a JupyterHub spawner for NGC PyTorch containers on GPU clusters."""

from .catalog import Catalog, CatalogError, Release, Size, load_catalog
from .selection import Selection, SelectionError
from .spawner import TWCCSpawner

__all__ = [
    "Catalog",
    "CatalogError",
    "Release",
    "Selection",
    "SelectionError",
    "Size",
    "TWCCSpawner",
    "load_catalog",
]
