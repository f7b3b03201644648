"""Spawn progress: the start script's steps on the spawn page, beside KubeSpawner's events.

The start script prints each in-container step as ``twcc-start: ...`` on the
container's log. While a spawn is pending and someone watches its progress
page, the spawner reads that log and shows new steps as progress messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

PREFIX = "twcc-start: "

T = TypeVar("T")


def start_script_steps(log: str) -> list[str]:
    """The start script's step messages in a container log, in order."""
    return [line[len(PREFIX) :].strip() for line in log.splitlines() if line.startswith(PREFIX)]


def container_running(pod: dict[str, Any] | None) -> bool:
    """Whether the pod's first container has started (its log has something to say)."""
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and "running" in (statuses[0].get("state") or {})


async def merge(*sources: AsyncIterator[T]) -> AsyncIterator[T]:
    """Items of several async iterators as they come; ends when all have ended."""
    queue: asyncio.Queue[tuple[bool, T | None]] = asyncio.Queue()

    async def pump(source: AsyncIterator[T]) -> None:
        try:
            async for item in source:
                await queue.put((False, item))
        finally:
            await queue.put((True, None))

    tasks = [asyncio.ensure_future(pump(source)) for source in sources]
    try:
        running = len(tasks)
        while running:
            done, item = await queue.get()
            if done:
                running -= 1
            else:
                yield item  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
