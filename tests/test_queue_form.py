"""What the form says about the queue, in English and zh-TW."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from twcc_spawner.catalog import Catalog, Release, Size, load_catalog
from twcc_spawner.form import render_form
from twcc_spawner.profiles import Queued, build_profile_list
from twcc_spawner.queue.model import QueueStatus
from twcc_spawner.queue.text import lost_place_text, queue_text


@pytest.fixture
def catalog(shipped_profiles: Path) -> Catalog:
    return load_catalog(shipped_profiles)


@pytest.mark.parametrize(
    "locale, status, text",
    [
        (
            "en",
            QueueStatus(4, 1200, "capacity"),
            "No 2-GPU slot is free: 3 people are waiting ahead of you, about 20 min",
        ),
        (
            "en",
            QueueStatus(2, None, "capacity"),
            "No 2-GPU slot is free: 1 person is waiting ahead of you",
        ),
        (
            "en",
            QueueStatus(1, 20, "capacity"),
            "No 2-GPU slot is free: you would be first in line, about 1 min",
        ),
        (
            "zh-TW",
            QueueStatus(4, 1200, "capacity"),
            "目前沒有空閒的 2-GPU 位置：您前面有 3 人在等待，約 20 分鐘",
        ),
    ],
)
def test_the_form_says_how_many_wait_ahead_and_about_how_long(locale, status, text) -> None:
    assert queue_text(locale, "queue.form", 2, status) == text


def test_progress_text_names_the_place_in_line() -> None:
    status = QueueStatus(3, 600, "capacity")
    assert queue_text("en", "queue.progress", 8, status) == (
        "Waiting for a 8-GPU slot: number 3 in line, about 10 min"
    )
    assert (
        queue_text("zh-TW", "queue.progress", 8, status)
        == "正在等待 8-GPU 位置：排在第 3 位，約 10 分鐘"
    )


def busy(locale: str):
    def availability(release: Release, size: Size):
        if size.gpus == 8:
            return "too_large"
        if size.gpus == 2:
            return Queued(queue_text(locale, "queue.form", 2, QueueStatus(4, 1200, "capacity")))
        return None

    return availability


def radio(form: str, size: str) -> str:
    return re.search(rf'<input [^>]*id="twcc-size-{re.escape(size)}"[^>]*>', form).group(0)


@pytest.mark.parametrize(
    "locale, join, too_large", [("en", "Join the queue", "no node is large enough for this size"),
                                 ("zh-TW", "加入排隊", "沒有節點大到足以容納此規格")]
)  # fmt: skip
def test_a_busy_size_can_be_picked_to_join_and_one_too_large_stays_disabled(
    catalog: Catalog, locale: str, join: str, too_large: str
) -> None:
    profiles = build_profile_list(catalog, frozenset(), None, locale, busy(locale))
    form = render_form(profiles, locale)
    two = radio(form, "c.xsuper")
    assert "disabled" not in two and 'data-queue="1"' in two
    assert "disabled" in radio(form, "c.4xsuper")
    assert "checked" in radio(form, "c.super")  # the default starts now
    matrix = json.loads(re.search(r'id="twcc-matrix">(.*?)</script>', form).group(1))
    assert matrix["21.11"]["c.xsuper"] == {"queue": busy(locale)(None, catalog.sizes[1]).text}
    assert matrix["21.11"]["c.4xsuper"] == too_large
    assert json.dumps(join) in form


@pytest.mark.parametrize(
    "locale, text",
    [
        ("en", "The hub restarted while you waited in line for 8 GPUs (since 09:41 UTC)"),
        ("zh-TW", "您自 09:41 UTC 起排隊等待 8 個 GPU 時，Hub 重新啟動"),
    ],
)
def test_the_form_tells_a_place_lost_by_a_hub_restart(
    catalog: Catalog, locale: str, text: str
) -> None:
    record = {"size": "c.4xsuper", "gpus": 8, "since": "2026-12-01T09:41:07Z"}
    notice = lost_place_text(locale, record)
    assert notice.startswith(text)
    html = render_form(
        build_profile_list(catalog, frozenset(), None, locale), locale, notice=notice
    )
    assert f'<p class="alert alert-info" role="status" id="twcc-notice">{notice}</p>' in html
    assert "twcc-notice" not in render_form(
        build_profile_list(catalog, frozenset(), None, locale), locale
    )
