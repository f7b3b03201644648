"""The start script's steps as progress messages, and merging progress sources."""

from __future__ import annotations

from collections.abc import AsyncIterator

from twcc_spawner.progress import container_running, merge, start_script_steps


def test_start_script_steps_are_read_from_the_log() -> None:
    log = (
        "twcc-start: starting PyTorch 21.11 / 2 GPUs\n"
        "some other output\n"
        "twcc-start: [1/4] GPUs: the container sees the 2 allocated GPU(s)\n"
        "[I 2026-11-26 ServerApp] twcc-start: not at the start of the line\n"
    )
    assert start_script_steps(log) == [
        "starting PyTorch 21.11 / 2 GPUs",
        "[1/4] GPUs: the container sees the 2 allocated GPU(s)",
    ]
    assert start_script_steps("") == []


def test_container_running() -> None:
    running = {"status": {"containerStatuses": [{"state": {"running": {}}}]}}
    waiting = {"status": {"containerStatuses": [{"state": {"waiting": {}}}]}}
    assert container_running(running)
    assert not container_running(waiting)
    assert not container_running({"status": {}})
    assert not container_running(None)


async def test_merge_yields_every_item_of_every_source() -> None:
    async def numbers(*items: int) -> AsyncIterator[int]:
        for item in items:
            yield item

    merged = [item async for item in merge(numbers(1, 2, 3), numbers(10, 20), numbers())]
    assert sorted(merged) == [1, 2, 3, 10, 20]
    assert [m for m in merged if m < 10] == [1, 2, 3]  # each source keeps its order
