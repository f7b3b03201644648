"""The spawner's side of the queue: traits, the hub's one :class:`.hub_queue.HubQueue`, the wait.

:class:`GpuQueueing` is mixed into :class:`~twcc_spawner.TWCCSpawner` beside the
preflight. A spawn that passes every check but capacity (a busy cluster, not
one too small for the size) joins the line of its size; :meth:`queue_wait`
shows its place on the progress page until, at the front of the line, the
checks pass again and its GPUs are reserved, or it gives up.

The wait happens inside ``Spawner.start``. JupyterHub (5.2 through 6.1) waits
``start_timeout`` for ``start``, reading it just after calling ``start``, so
:meth:`queue_start_timeout` lengthens it by the longest ``queue_max_wait`` and
the spawner itself gives the pod the operator's ``start_timeout`` from
admission on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, ClassVar

from traitlets import Bool, Dict, Float
from traitlets.config import Configurable

from ..i18n import translate
from ..preflight.checks import Verdict
from .hub_queue import Attempt, HubQueue, QueueTimeout
from .model import QueueError, QueueStatus, Waiter
from .text import queue_text

#: Seconds between updates of a waiting spawn's estimate on its progress page.
_REFRESH = 15.0
#: The key of a waiting spawn's record in the spawner's saved state.
_STATE_KEY = "twcc_queued"


class GpuQueueing(Configurable):
    """The hub's GPU queue for a spawner (a mixin for :class:`~twcc_spawner.TWCCSpawner`)."""

    queue_enabled = Bool(
        True,
        config=True,
        help="""
        When no node has the GPUs free, wait in a first-in-first-out line per size
        instead of refusing ("Please try again in a few minutes"). The form says
        how many wait ahead and about how long; the progress page shows the place
        in line. Needs the capacity check (``preflight_enabled`` and the RBAC of
        docs/preflight.md). A hub restart ends the waiting spawns; the form then
        tells each researcher that their place was lost (docs/queue.md).
        """,
    )

    queue_max_wait = Float(
        1800.0,
        config=True,
        help="""
        Seconds a spawn may wait in the queue; then it ends with a message.
        ``queue_max_wait_by_size`` overrides it per size name. Adds to
        ``start_timeout`` (see docs/queue.md).
        """,
    )

    queue_max_wait_by_size = Dict(
        value_trait=Float(),
        config=True,
        help="""``queue_max_wait`` per size name, e.g. ``{"c.4xsuper": 7200}``.""",
    )

    queue_interval = Float(
        1.0,
        config=True,
        help="""
        Seconds between offers of freed capacity to the waiting spawns when
        nothing else wakes the queue (servers stopped outside the hub).
        """,
    )

    _hub_queue: ClassVar[HubQueue | None] = None
    _queue_admitted_at: float | None = None
    #: While this spawn waits: its place's record in the hub's database (see get_state).
    _queue_record: dict[str, Any] | None = None
    #: A wait the hub's restart ended (read back from the database), for the form.
    queue_lost: dict[str, Any] | None = None

    # The hub keeps no queue across a restart. A waiting spawn's record is saved in
    # the spawner's state, so after a restart the form can say that the place was lost.
    # The restarted hub stops that server (its spawn never finished); the record stays
    # in the state through that stop, until the next start (``queue_forget_lost``).

    def get_state(self) -> dict[str, Any]:
        parent: Any = super()
        state = dict(parent.get_state())
        record = self._queue_record or self.queue_lost
        if record is not None:
            state[_STATE_KEY] = record
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        parent: Any = super()
        parent.load_state(state)
        self.queue_lost = state.get(_STATE_KEY)

    def clear_state(self) -> None:
        parent: Any = super()
        parent.clear_state()
        self._queue_record = None

    def queue_forget_lost(self) -> None:
        """A new start: the place lost in a restart is no longer news."""
        self.queue_lost = None

    def _save_queue_record(self, record: dict[str, Any] | None) -> None:
        """Record (or forget) this spawn's wait in the hub's database at once."""
        self._queue_record = record
        self_: Any = self
        if self_.orm_spawner is not None and self_.db is not None:
            self_.orm_spawner.state = self.get_state()
            self_.db.commit()

    def hub_queue(self) -> HubQueue:
        """The hub's one queue (made on first use, in this event loop)."""
        queue = GpuQueueing._hub_queue
        if queue is None or queue.loop is not asyncio.get_running_loop():
            queue = GpuQueueing._hub_queue = HubQueue(self.queue_interval)
        return queue

    def queue_max_wait_for(self, size: str) -> float:
        """The maximum wait of ``size``."""
        return float(self.queue_max_wait_by_size.get(size, self.queue_max_wait))

    def queue_start_timeout(self, start_timeout: float) -> float:
        """``start_timeout`` for JupyterHub: the operator's plus the longest queue wait."""
        if not self.queue_enabled:
            return start_timeout
        return start_timeout + max([self.queue_max_wait, *self.queue_max_wait_by_size.values()])

    def queue_waiting(self, user: str, exclude: str) -> tuple[tuple[str, int], ...]:
        """GPUs ``user`` waits for in the queue, by server (for the quota check)."""
        queue = GpuQueueing._hub_queue
        if queue is None:
            return ()
        return tuple(queue.model.user_waiting(user, exclude).items())

    def queue_should_wait(self, verdict: Verdict) -> bool:
        """Whether a spawn whose last check gave ``verdict`` goes to the queue.

        A busy cluster (a queueable capacity refusal) sends it there; so does a
        passed capacity check while others wait, so nobody jumps the line.
        """
        if not self.queue_enabled:
            return False
        if not verdict.ok:
            return verdict.queueable
        queue = GpuQueueing._hub_queue
        return queue is not None and len(queue.model) > 0

    def queue_outlook(self, size: str, gpus: int) -> QueueStatus:
        """The place a spawn of ``size`` would get now (for the form)."""
        return self.hub_queue().outlook(size, gpus)

    def gpu_queue_released(self) -> None:
        """GPUs of this hub were freed: let the queue offer them."""
        queue = GpuQueueing._hub_queue
        if queue is not None:
            queue.wake()

    async def queue_wait(
        self, key: str, waiter: Waiter, attempt: Attempt, note: Any, locale: str
    ) -> tuple[list[Verdict] | None, Verdict | None]:
        """Wait in line: the verdicts of the admitting (or refusing) checks, or a refusal.

        ``note(message)`` shows a message on the progress page. Stopping the
        server cancels this, which leaves the queue at once.
        """
        queue = self.hub_queue()
        try:
            future = queue.join(waiter, attempt)
        except QueueError as e:
            return None, Verdict("queue", False, str(e), 409)
        joined = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._save_queue_record({"size": waiter.size, "gpus": waiter.gpus, "since": joined})
        shown = None
        try:
            while not future.done():
                status = queue.status(key)
                if status is not None:
                    text = queue_text(locale, "queue.progress", waiter.gpus, status)
                    if text != shown:
                        note(text)
                        shown = text
                changed = asyncio.ensure_future(queue.changed.wait())
                try:
                    await asyncio.wait(
                        {future, changed}, timeout=_REFRESH, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    changed.cancel()
            return future.result(), None
        except QueueTimeout:
            minutes = round(self.queue_max_wait_for(waiter.size) / 60)
            message = translate(locale, "queue.timeout", gpus=waiter.gpus, minutes=minutes)
            return None, Verdict("queue_timeout", False, message, 503)
        finally:
            queue.leave(key)
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                # Stopped: JupyterHub saves the state as the stop leaves it. Or the hub
                # is shutting down: the saved record tells the restarted hub.
                self._queue_record = None
            else:
                self._save_queue_record(None)
