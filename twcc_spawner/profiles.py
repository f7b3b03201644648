"""Catalog to KubeSpawner ``profile_list``: one profile per release, a ``size`` option each.

The profile list is what KubeSpawner's spawn form renders. What a selection
does to the pod is :mod:`twcc_spawner.podspec`'s job, so the profiles carry no
``kubespawner_override``.
"""

from __future__ import annotations

from typing import Any

from .catalog import Catalog, Release, Size
from .selection import Selection, profile_slug


def release_summary(release: Release) -> str:
    """``PyTorch 1.11.0a0+b6df043 · CUDA 11.5.0 · Python 3.8`` (+ deprecation, unverified)."""
    parts = [f"PyTorch {release.pytorch}", f"CUDA {release.cuda}", f"Python {release.python}"]
    text = " · ".join(parts)
    if release.deprecated:
        text += f" · Deprecated: {release.deprecated}"
    if {"pytorch", "cuda", "python"} & release.unverified:
        text += " · (some versions unverified)"
    return text


def size_summary(size: Size) -> str:
    """``2 GPUs · 8 cores · 180G memory · 32G /dev/shm``."""
    cores = f"{size.cpu:g} core" + ("" if size.cpu == 1 else "s")
    return f"{size.label} · {cores} · {size.memory} memory · {size.shm} /dev/shm"


def build_profile_list(
    catalog: Catalog, groups: frozenset[str], preselect: Selection | None = None
) -> list[dict[str, Any]]:
    """The profiles a user in ``groups`` may start, newest release first.

    ``preselect`` (the user's last selection, if still offered) is marked as the
    default; otherwise the catalog's default release and size are.
    """
    releases = catalog.releases_for(groups)
    sizes = catalog.sizes_for(groups)
    default_release = preselect.release if preselect else catalog.default_release(groups)
    default_size = preselect.size if preselect else catalog.default_size(groups)
    choices = {
        size.name: {"display_name": size_summary(size), "default": size == default_size}
        for size in sizes
    }
    return [
        {
            "display_name": release.title,
            "slug": profile_slug(release),
            "description": release_summary(release),
            "default": release == default_release,
            "profile_options": {"size": {"display_name": "GPUs", "choices": choices}},
        }
        for release in releases
    ]
