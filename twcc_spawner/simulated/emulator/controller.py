"""The loop the scheduler and kubelet stand-ins share: reconcile after every change."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from .store import Change, Store


class Controller:
    """Runs :meth:`reconcile` once after start and again after any change to ``watched``.

    Level-triggered like Kubernetes controllers: changes that arrive while a pass
    runs are folded into the next pass, never lost.
    """

    watched: ClassVar[frozenset[str]]

    def __init__(self, store: Store) -> None:
        self.store = store
        self._dirty = asyncio.Event()

    def wake(self) -> None:
        """Ask for another pass (e.g. after a process ended)."""
        self._dirty.set()

    def reconcile(self) -> None:
        """One pass over the store."""
        raise NotImplementedError

    async def shutdown(self) -> None:
        """Release what the controller holds when it stops."""

    async def run(self) -> None:
        """Reconcile until cancelled, then :meth:`shutdown`."""
        unsubscribe = self.store.subscribe(self._on_change)
        self.wake()
        try:
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                self.reconcile()
        finally:
            unsubscribe()
            await self.shutdown()

    def _on_change(self, change: Change) -> None:
        if change.plural in self.watched:
            self.wake()
