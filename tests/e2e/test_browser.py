"""The researcher's path in a real browser: Debian's chromium driven by Playwright.

Log in on the demo's hub, pick "PyTorch 21.11" and "2 GPUs", watch the
progress page, land in JupyterLab and run a cell. Screenshots of the form, the
progress page and JupyterLab are written to ``$TWCC_SCREENSHOTS`` (the docs keep
the current ones: ``make screenshots``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from twcc_spawner.simulated.local_hub import LocalHub

from .conftest import HubApi, eventually, v100_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: ``$TWCC_SCREENSHOTS`` (e.g. docs/images) or a temporary folder."""
    folder = Path(os.environ.get("TWCC_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(browser: Browser, hub: LocalHub, user: str, locale: str = "en-US") -> Page:
    page = browser.new_context(locale=locale, viewport={"width": 1100, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{hub.settings.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.settings.password)
    page.click("#login_submit")
    page.wait_for_url("**/hub/**")
    return page


def accessibility_violations(page: Page, selector: str) -> list[dict]:
    """axe-core's serious and critical violations inside ``selector``."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("(selector) => axe.run(document.querySelector(selector))", selector)
    return [
        {"id": v["id"], "nodes": [n["html"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_pick_pytorch_21_11_with_2_gpus_and_run_a_cell(
    browser: Browser, hub: LocalHub, screenshots: Path
) -> None:
    page = log_in(browser, hub, "alice")
    page.goto(f"{hub.settings.url}/hub/spawn")

    page.select_option("#twcc-release", "21.11")
    page.get_by_label("2 GPUs", exact=False).first.check()
    expect(page.locator("#twcc-summary")).to_have_text("PyTorch 21.11 / 2 GPUs")
    assert accessibility_violations(page, "#spawn_form") == []
    page.screenshot(path=screenshots / "spawn-form.png", full_page=True)

    page.keyboard.press("Tab")  # the form is reachable by keyboard: submit with Enter
    page.locator("#spawn_form button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/spawn-pending/**")
    expect(page.locator("#progress-message")).not_to_be_empty()
    page.screenshot(path=screenshots / "spawn-progress.png", full_page=True)

    page.wait_for_url("**/user/alice/lab**", timeout=150_000)
    page.locator(".jp-LauncherCard[data-category='Notebook']").first.click()
    kernel = page.locator(".jp-StatusBar-TextItem", has_text="PyTorch 21.11 / 2 GPUs")
    expect(kernel).to_contain_text("Idle", timeout=60_000)
    cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    cell.fill("import torch; print(torch.__version__, torch.cuda.device_count())")
    cell.press("Shift+Enter")
    expect(page.locator(".jp-OutputArea-output").first).to_have_text(
        "1.11.0a0+b6df043 2", timeout=60_000
    )
    page.screenshot(path=screenshots / "jupyterlab.png")

    page.goto(f"{hub.settings.url}/hub/home")
    expect(page.locator(".twcc-running")).to_contain_text("default: PyTorch 21.11 / 2 GPUs")


def test_the_form_in_traditional_chinese(
    browser: Browser, hub: LocalHub, screenshots: Path
) -> None:
    page = log_in(browser, hub, "mei", locale="zh-TW")
    page.goto(f"{hub.settings.url}/hub/spawn")
    expect(page.locator("label[for=twcc-release]")).to_have_text("PyTorch 版本")
    expect(page.locator(".twcc-form")).to_contain_text("8 核心")
    expect(page.locator(".twcc-summary")).to_contain_text("即將啟動")
    assert accessibility_violations(page, "#spawn_form") == []
    page.screenshot(path=screenshots / "spawn-form-zh-TW.png", full_page=True)


def test_a_forged_submission_is_refused_on_the_page(browser: Browser, hub: LocalHub) -> None:
    page = log_in(browser, hub, "bob")
    page.goto(f"{hub.settings.url}/hub/spawn")
    page.evaluate(
        """() => {
            const radio = document.querySelector('input[name=size]');
            radio.disabled = false; radio.value = '3-gpus; rm -rf'; radio.checked = true;
        }"""
    )
    page.locator("#spawn_form button[type=submit]").click()
    error = page.locator(".spawn-error-msg")
    expect(error).to_contain_text("Size '3-gpus; rm -rf' is not offered; pick one of: c.super")
    matrix = json.loads(page.locator("#twcc-matrix").text_content() or "{}")
    assert "22.02" in matrix  # the form is shown again, ready for another pick


FOUR_GPU_NODES = v100_cluster(nodes=2, gpus=4)


@pytest.mark.parametrize("cluster", [FOUR_GPU_NODES], indirect=True)
def test_a_size_that_cannot_start_is_disabled_and_a_forged_pick_refused(
    browser: Browser, hub: LocalHub, k8s
) -> None:
    page = log_in(browser, hub, "carol")
    page.goto(f"{hub.settings.url}/hub/spawn")
    eight = page.locator("#twcc-size-c\\.4xsuper")
    expect(eight).to_be_disabled()
    expect(page.locator("#twcc-status-c\\.4xsuper")).to_have_text(
        "no node is large enough for this size"
    )
    expect(page.locator("#twcc-size-c\\.2xsuper")).to_be_enabled()
    expect(page.locator(".twcc-form .alert")).to_contain_text("simulated Kubernetes cluster")

    page.evaluate(
        """() => {
            const radio = document.getElementById('twcc-size-c.4xsuper');
            radio.disabled = false; radio.checked = true;
        }"""
    )
    page.locator("#spawn_form button[type=submit]").click()
    expect(page.locator(".spawn-error-msg")).to_contain_text(
        "No suitable node is large enough for size c.4xsuper"
    )
    assert k8s.created == []


ONE_EIGHT_GPU_NODE = v100_cluster(nodes=1, gpus=8)


@pytest.mark.parametrize("cluster", [ONE_EIGHT_GPU_NODE], indirect=True)
def test_joining_the_queue_and_the_place_in_line_in_both_languages(
    browser: Browser, hub: LocalHub, k8s, screenshots: Path
) -> None:
    api = HubApi(hub.settings.url, hub.settings.admin_token or "")
    api.create_user("holder")
    assert api.start("holder", release="21.11", gpus=8).status_code in (201, 202)
    api.wait_ready("holder", timeout=90)

    ann = log_in(browser, hub, "ann")
    ann.goto(f"{hub.settings.url}/hub/spawn")
    ann.select_option("#twcc-release", "21.11")
    ann.locator("#twcc-size-c\\.4xsuper").check()
    expect(ann.locator("#twcc-status-c\\.4xsuper")).to_have_text(
        "No 8-GPU slot is free: you would be first in line"
    )
    submit = ann.locator("#spawn_form button[type=submit]")
    expect(submit).to_have_text("Join the queue")
    assert accessibility_violations(ann, "#spawn_form") == []
    ann.screenshot(path=screenshots / "spawn-form-queue.png", full_page=True)
    submit.click()
    ann.wait_for_url("**/spawn-pending/**")
    expect(ann.locator("#progress-message")).to_have_text(
        "Waiting for a 8-GPU slot: number 1 in line"
    )

    mei = log_in(browser, hub, "mei", locale="zh-TW")
    mei.goto(f"{hub.settings.url}/hub/spawn")
    mei.select_option("#twcc-release", "21.11")
    mei.locator("#twcc-size-c\\.4xsuper").check()
    expect(mei.locator("#twcc-status-c\\.4xsuper")).to_have_text(
        "目前沒有空閒的 8-GPU 位置：您前面有 1 人在等待"
    )
    expect(mei.locator("#spawn_form button[type=submit]")).to_have_text("加入排隊")
    mei.locator("#spawn_form button[type=submit]").click()
    mei.wait_for_url("**/spawn-pending/**")
    expect(mei.locator("#progress-message")).to_have_text("正在等待 8-GPU 位置：排在第 2 位")
    mei.screenshot(path=screenshots / "spawn-queue-zh-TW.png", full_page=True)

    assert api.stop("holder").status_code in (202, 204)  # the head starts, the line moves up
    ann.wait_for_url("**/user/ann/lab**", timeout=150_000)
    expect(mei.locator("#progress-message")).to_have_text(
        "正在等待 8-GPU 位置：排在第 1 位", timeout=30_000
    )
    assert [n for n in k8s.created if n.startswith("jupyter-")] == [
        "jupyter-holder",
        "jupyter-ann",
    ]
    # Mei leaves the line; her page then offers a new start and no pod of hers is left.
    # (A spawn still watched when the hub shuts down ends in JupyterHub's own aclose() error.)
    assert api.stop("mei").status_code in (202, 204)
    expect(mei.locator("body")).to_contain_text("Your server is not running", timeout=30_000)
    eventually(lambda: "" not in api.servers("mei"), 30, "mei's queued spawn ended")
    assert "jupyter-mei" not in k8s.created
