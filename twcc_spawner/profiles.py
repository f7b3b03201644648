"""Catalog to KubeSpawner ``profile_list``: one profile per release, a ``size`` option each.

The profile list is the model of the spawn form (:mod:`.form` renders it):
each release with its facts, each size with what it gives and whether it can
start now. What a selection does to the pod is :mod:`.podspec`'s job, so the
profiles carry no ``kubespawner_override``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .catalog import Catalog, Release, Size
from .i18n import translate
from .selection import Selection, profile_slug


class Queued(NamedTuple):
    """A (release, size) that would wait in the queue: ``text`` says how long (localised)."""

    text: str


# Why a (release, size) cannot start now: an i18n key under "avail.", None if it can, or
# Queued if it would wait for GPUs.
Availability = Callable[[Release, Size], str | Queued | None]
# What to say of a release's image (ready on warm nodes, or the first start's download).
ImageNote = Callable[[Release], str | None]


def always_available(release: Release, size: Size) -> str | Queued | None:
    """The availability when nothing is known about the cluster."""
    return None


def no_image_note(release: Release) -> str | None:
    """The image note when nothing is known about the cluster."""
    return None


def release_summary(release: Release, locale: str = "en") -> str:
    """``PyTorch 1.11.0a0+b6df043 · CUDA 11.5.0 · Python 3.8`` (+ deprecation, unverified)."""
    parts = [f"PyTorch {release.pytorch}", f"CUDA {release.cuda}", f"Python {release.python}"]
    if release.deprecated:
        parts.append(f"{translate(locale, 'form.deprecated')}: {release.deprecated}")
    if {"pytorch", "cuda", "python"} & release.unverified:
        parts.append(f"({translate(locale, 'form.unverified')})")
    return " · ".join(parts)


def size_summary(size: Size, locale: str = "en") -> str:
    """``2 GPUs · 8 cores · 180G memory · 32G /dev/shm``."""
    return " · ".join(
        [
            size.label,
            translate(locale, "size.cores", cpu=f"{size.cpu:g}"),
            translate(locale, "size.memory", memory=size.memory),
            translate(locale, "size.shm", shm=size.shm),
        ]
    )


def _choices(
    release: Release,
    sizes: tuple[Size, ...],
    default: Size | None,
    locale: str,
    availability: Availability,
    summaries: dict[str, str],
) -> dict[str, dict[str, Any]]:
    choices = {}
    for size in sizes:
        reason = availability(release, size)
        queued = isinstance(reason, Queued)
        choices[size.name] = {
            "display_name": summaries[size.name],
            "label": f"{release.title} / {size.label}",
            "size_label": size.label,
            "default": size == default,
            "available": reason is None or queued,
            "queue": queued,
            "status": reason.text if queued else translate(locale, f"avail.{reason or 'ok'}"),
        }
    return choices


def build_profile_list(
    catalog: Catalog,
    groups: frozenset[str],
    preselect: Selection | None = None,
    locale: str = "en",
    availability: Availability = always_available,
    image_note: ImageNote = no_image_note,
) -> list[dict[str, Any]]:
    """The profiles a user in ``groups`` may start, newest release first.

    ``preselect`` (the user's last selection, if still offered) is marked as the
    default; otherwise the catalog's default release and size are.
    """
    sizes = catalog.sizes_for(groups)
    summaries = {size.name: size_summary(size, locale) for size in sizes}
    default_release = preselect.release if preselect else catalog.default_release(groups)
    default_size = preselect.size if preselect else catalog.default_size(groups)
    return [
        {
            "display_name": release.title,
            "slug": profile_slug(release),
            "release": release.release,
            "description": " · ".join(
                filter(None, [release_summary(release, locale), image_note(release)])
            ),
            "default": release == default_release,
            "profile_options": {
                "size": {
                    "display_name": translate(locale, "form.gpus"),
                    "choices": _choices(
                        release, sizes, default_size, locale, availability, summaries
                    ),
                }
            },
        }
        for release in catalog.releases_for(groups)
    ]
