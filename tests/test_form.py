"""The spawn form: what it shows, in English and zh-TW, with capacity, and escaping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from formparse import Form, parse_form

from twcc_spawner.catalog import Catalog, Release, Size, load_catalog
from twcc_spawner.form import render_form
from twcc_spawner.i18n import negotiate
from twcc_spawner.profiles import build_profile_list
from twcc_spawner.selection import resolve


@pytest.fixture
def catalog(shipped_profiles: Path) -> Catalog:
    return load_catalog(shipped_profiles)


def no_eight_gpus(release: Release, size: Size) -> str | None:
    return "none_free" if size.gpus == 8 else None


def flags(form: Form, name: str) -> dict[str, tuple[bool, bool]]:
    """size → (checked, disabled) of the radio buttons named ``name``."""
    return {v: (r.has("checked"), r.has("disabled")) for v, r in form.radios(name).items()}


def test_form_shows_releases_sizes_and_the_summary(catalog: Catalog) -> None:
    last = resolve(catalog, {"release": "21.11", "gpus": 2})
    form = parse_form(
        render_form(build_profile_list(catalog, frozenset(), last, "en", no_eight_gpus), "en")
    )
    assert form.label_for("twcc-release") == "PyTorch release"
    assert form.by_id["twcc-release"].attrs["name"] == "release"
    options = form.options("twcc-release")
    offered = [r.release for r in catalog.releases if not r.hidden]
    assert [o.attrs["value"] for o in options] == offered
    assert [o.attrs["value"] for o in options if o.has("selected")] == ["21.11"]
    (chosen,) = [o for o in options if o.attrs["value"] == "21.11"]
    assert chosen.attrs["data-title"] == "PyTorch 21.11"
    assert chosen.text.startswith("PyTorch 21.11 · PyTorch 1.11.0a0+b6df043 · CUDA 11.5.0")

    offered_sizes = [s.name for s in catalog.sizes if not s.hidden]
    assert "cm.super" not in offered_sizes  # hidden sizes are not offered
    assert flags(form, "size") == {
        "c.super": (False, False),
        "c.xsuper": (True, False),
        "c.2xsuper": (False, False),
        "c.4xsuper": (False, True),
    }
    assert list(flags(form, "size")) == offered_sizes
    assert form.label_for("twcc-size-c.4xsuper") == (
        "8 GPUs · 32 cores · 720G memory · 128G /dev/shm: none free now"
    )
    assert form.label_for("twcc-size-c.2xsuper").endswith(": available")
    assert form.text("twcc-summary") == "PyTorch 21.11 / 2 GPUs"
    matrix = json.loads(form.by_id["twcc-matrix"].text)
    assert set(matrix) == set(offered)
    assert {row["c.4xsuper"] for row in matrix.values()} == {"none free now"}
    assert {row["c.super"] for row in matrix.values()} == {None}


def test_an_unavailable_preselection_checks_the_first_startable_size(catalog: Catalog) -> None:
    last = resolve(catalog, {"release": "21.11", "gpus": 8})
    form = parse_form(
        render_form(build_profile_list(catalog, frozenset(), last, "en", no_eight_gpus), "en")
    )
    assert [v for v, (checked, _) in flags(form, "size").items() if checked] == ["c.super"]
    assert flags(form, "size")["c.4xsuper"] == (False, True)
    assert form.text("twcc-summary") == "PyTorch 21.11 / 1 GPU"


def test_form_in_traditional_chinese(catalog: Catalog) -> None:
    form = parse_form(
        render_form(build_profile_list(catalog, frozenset(), None, "zh-TW", no_eight_gpus), "zh-TW")
    )
    assert form.elements[0].attrs["lang"] == "zh-TW"
    assert form.label_for("twcc-release") == "PyTorch 版本"
    assert (
        form.label_for("twcc-size-c.xsuper")
        == "2 GPUs · 8 核心 · 180G 記憶體 · 32G /dev/shm: 可使用"
    )
    assert form.label_for("twcc-size-c.4xsuper").endswith(": 目前沒有空閒")
    assert json.loads(form.by_id["twcc-available"].text) == "可使用"
    assert "即將啟動" in form.elements[0].text


def test_operator_text_is_escaped(catalog: Catalog, profiles_dir: Path) -> None:
    text = (profiles_dir / "releases.yaml").read_text()
    text = text.replace("kept for reproducing old results", "<script>alert(1)</script>")
    (profiles_dir / "releases.yaml").write_text(text)
    html = render_form(build_profile_list(load_catalog(profiles_dir), frozenset()), "en")
    form = parse_form(html)
    (old,) = [o for o in form.options("twcc-release") if o.attrs["value"] == "18.08"]
    assert "; <script>alert(1)</script> ·" in old.text  # shown as text ...
    scripts = [e for e in form.elements if e.tag == "script"]
    assert all("alert(1)" not in e.text for e in scripts)  # ... never run
    assert [e.attrs.get("type") for e in scripts] == ["application/json"] * 3 + [None]


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("zh-TW,zh;q=0.9,en-US;q=0.8", "zh-TW"),
        ("en-US,en;q=0.9,zh-TW;q=0.8", "en"),
        ("zh-CN", "zh-TW"),
        ("fr-FR,zh-TW;q=0.5", "zh-TW"),
        ("en;q=0.2,zh;q=0.8", "zh-TW"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
        ("zh;q=bogus,en", "en"),
    ],
)
def test_language_from_accept_language(header: str | None, locale: str) -> None:
    assert negotiate(header) == locale
