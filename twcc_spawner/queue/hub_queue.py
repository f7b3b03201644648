"""The hub's one queue, in its event loop: spawns wait on futures that :func:`.model.pump` settles.

Every spawner of the hub shares one :class:`HubQueue`. Joining, leaving and
admitting are synchronous (no await between a check and its reservation), so
concurrent spawns never over-commit. The queue offers capacity again whenever a
spawn joins or leaves, when a server's GPUs are released, and every
``interval`` seconds (for servers stopped outside the hub, seen by the watch).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import metrics
from .model import Outcome, QueueStatus, Waiter, WaitQueue, pump

#: ``attempt(held)``: the spawn's checks without the ``held`` nodes; the outcome and the
#: checks' verdicts (which the waiting spawn reads once it is admitted or refused).
Attempt = Callable[[frozenset[str]], tuple[Outcome, Any]]


class QueueTimeout(Exception):
    """The spawn waited its maximum wait."""


@dataclass
class _Entry:
    waiter: Waiter
    attempt: Attempt
    future: asyncio.Future[Any]
    detail: Any = None


class HubQueue:
    """The queue model, the waiting spawns' futures and the loop that offers them capacity."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.model = WaitQueue()
        self.interval = interval
        self.clock = clock
        self.loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()
        self._entries: dict[str, _Entry] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def join(self, waiter: Waiter, attempt: Attempt) -> asyncio.Future[Any]:
        """Queue ``waiter`` (:class:`~.model.QueueError` if it may not) and offer capacity now.

        The future's result is the verdicts of the attempt that admitted or refused
        it; it fails with :class:`QueueTimeout` at the waiter's deadline.
        """
        self.model.join(waiter)
        future: asyncio.Future[Any] = self.loop.create_future()
        self._entries[waiter.key] = _Entry(waiter, attempt, future)
        metrics.queue_joined(waiter.size)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        self.offer()
        return future

    def leave(self, key: str, why: str = "stopped") -> None:
        """Take ``key`` out of the queue if it still waits (its spawn was stopped)."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.model.leave(key)
        metrics.queue_left(entry.waiter, self.clock() - entry.waiter.joined, why)
        if not entry.future.done():
            entry.future.cancel()
        self._changed()
        self.wake()

    def wake(self) -> None:
        """Ask the loop to offer capacity again soon (GPUs were freed)."""
        self._wake.set()

    def status(self, key: str) -> QueueStatus | None:
        """``key``'s place, or None if it does not wait."""
        return self.model.status(key, self.clock())

    def outlook(self, size: str, gpus: int) -> QueueStatus:
        """The place a spawn of ``size`` would get now."""
        return self.model.outlook(size, self.clock(), gpus)

    def offer(self) -> None:
        """Expire overdue spawns, then offer capacity to the line heads."""
        now = self.clock()
        for waiter in self.model.expired(now):
            entry = self._entries.pop(waiter.key)
            self.model.leave(waiter.key)
            metrics.queue_left(waiter, now - waiter.joined, "timeout")
            entry.future.set_exception(QueueTimeout())
        done = pump(self.model, self._attempt, now)
        for waiter, state in done:
            entry = self._entries.pop(waiter.key)
            metrics.queue_left(waiter, now - waiter.joined, state.value)
            entry.future.set_result(entry.detail)
        if done:
            self._changed()

    def _attempt(self, waiter: Waiter, held: frozenset[str]) -> Outcome:
        entry = self._entries[waiter.key]
        outcome, entry.detail = entry.attempt(held)
        return outcome

    def _changed(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    async def _run(self) -> None:
        while self._entries:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            self.offer()

    def snapshot(self) -> list[dict[str, Any]]:
        """Who waits for what, oldest first (for the admins' API)."""
        now = self.clock()
        rows = []
        for waiter in self.model.waiters():
            status = self.model.status(waiter.key, now)
            assert status is not None
            rows.append(
                {
                    "user": waiter.user,
                    "server": waiter.server,
                    "size": waiter.size,
                    "gpus": waiter.gpus,
                    "position": status.position,
                    "waited_seconds": round(now - waiter.joined, 1),
                    "estimate_seconds": None if status.estimate is None else round(status.estimate),
                    "reason": status.reason,
                    "gives_up_in_seconds": round(max(0.0, waiter.deadline - now), 1),
                }
            )
        return rows
