"""The spawn form: what it shows, in English and zh-TW, with capacity, and escaping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def radio(form: str, size: str) -> str:
    return re.search(rf'<input [^>]*id="twcc-size-{re.escape(size)}"[^>]*>', form).group(0)


def test_form_shows_releases_sizes_and_the_summary(catalog: Catalog) -> None:
    last = resolve(catalog, {"release": "21.11", "gpus": 2})
    form = render_form(build_profile_list(catalog, frozenset(), last, "en", no_eight_gpus), "en")
    assert '<label for="twcc-release" class="form-label fw-bold">PyTorch release</label>' in form
    assert (
        '<option value="21.11" data-title="PyTorch 21.11" selected>'
        "PyTorch 21.11 · PyTorch 1.11.0a0+b6df043" in form
    )
    assert "checked" in radio(form, "c.xsuper")
    assert "disabled" in radio(form, "c.4xsuper")
    assert "disabled" not in radio(form, "c.2xsuper")
    assert (
        "8 GPUs · 32 cores · 720G memory · 128G /dev/shm:\n"
        '        <span class="twcc-status" id="twcc-status-c.4xsuper">none free now</span>'
    ) in form
    assert '<output id="twcc-summary" aria-live="polite">PyTorch 21.11 / 2 GPUs</output>' in form
    assert "cm.super" not in form  # hidden sizes are not offered


def test_an_unavailable_preselection_checks_the_first_startable_size(catalog: Catalog) -> None:
    last = resolve(catalog, {"release": "21.11", "gpus": 8})
    form = render_form(build_profile_list(catalog, frozenset(), last, "en", no_eight_gpus), "en")
    assert "checked" in radio(form, "c.super")
    assert "checked" not in radio(form, "c.4xsuper")


def test_form_in_traditional_chinese(catalog: Catalog) -> None:
    form = render_form(
        build_profile_list(catalog, frozenset(), None, "zh-TW", no_eight_gpus), "zh-TW"
    )
    assert 'lang="zh-TW"' in form
    assert "PyTorch 版本" in form
    assert "2 GPUs · 8 核心 · 180G 記憶體 · 32G /dev/shm" in form
    assert "目前沒有空閒" in form and "可使用" in form
    assert "即將啟動" in form


def test_operator_text_is_escaped(catalog: Catalog, profiles_dir: Path) -> None:
    text = (profiles_dir / "releases.yaml").read_text()
    text = text.replace("kept for reproducing old results", "<script>alert(1)</script>")
    (profiles_dir / "releases.yaml").write_text(text)
    form = render_form(build_profile_list(load_catalog(profiles_dir), frozenset()), "en")
    assert "<script>alert(1)</script>" not in form
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in form


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
