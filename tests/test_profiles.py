"""Catalog to KubeSpawner's profile_list."""

from __future__ import annotations

from pathlib import Path

from twcc_spawner.catalog import load_catalog
from twcc_spawner.profiles import build_profile_list
from twcc_spawner.selection import resolve


def test_profile_list_offers_every_visible_release_and_size(shipped_profiles: Path) -> None:
    catalog = load_catalog(shipped_profiles)
    profiles = build_profile_list(catalog, frozenset())

    assert [p["display_name"] for p in profiles][:3] == [
        "PyTorch 22.02",
        "PyTorch 21.11",
        "PyTorch 21.08",
    ]
    assert len(profiles) == 15
    assert [p["slug"] for p in profiles if p["default"]] == ["pytorch-22-02"]
    by_slug = {p["slug"]: p for p in profiles}
    assert by_slug["pytorch-21-08"]["description"] == (
        "PyTorch 1.10.0a0+3fd9dcf · CUDA 11.4.1 · Python 3.8"
    )
    assert by_slug["pytorch-21-11"]["description"] == (  # its PyTorch string is from user reports
        "PyTorch 1.11.0a0+b6df043 · CUDA 11.5.0 · Python 3.8 · (some versions unverified)"
    )
    assert "deprecated: Python 3.6 on Ubuntu 16.04" in by_slug["pytorch-18-08"]["description"]
    assert "unverified" in by_slug["pytorch-18-08"]["description"]
    choices = by_slug["pytorch-21-11"]["profile_options"]["size"]["choices"]
    assert list(choices) == ["c.super", "c.xsuper", "c.2xsuper", "c.4xsuper"]
    assert choices["c.xsuper"] == {
        "display_name": "2 GPUs · 8 cores · 180G memory · 32G /dev/shm",
        "label": "PyTorch 21.11 / 2 GPUs",
        "size_label": "2 GPUs",
        "default": False,
        "available": True,
        "queue": False,
        "status": "available",
    }
    assert [name for name, c in choices.items() if c["default"]] == ["c.super"]
    assert all("kubespawner_override" not in p for p in profiles)


def test_last_selection_is_preselected(shipped_profiles: Path) -> None:
    catalog = load_catalog(shipped_profiles)
    last = resolve(catalog, {"release": "21.11", "gpus": 2})
    profiles = build_profile_list(catalog, frozenset(), last)
    assert [p["slug"] for p in profiles if p["default"]] == ["pytorch-21-11"]
    choices = profiles[0]["profile_options"]["size"]["choices"]
    assert [name for name, c in choices.items() if c["default"]] == ["c.xsuper"]
