"""The queue model: pure state, no I/O, no clock of its own (times are passed in).

One line per size, first in first out. A user waits at most once per size, and
the GPUs they wait for count against their quota (the caller adds
:meth:`WaitQueue.user_waiting` to the quota check).

Admission (:func:`pump`) offers capacity to the head of every line, oldest
head first. A head that cannot start yet **holds** the roomiest node it may use
(the node with the most free GPUs): younger heads may not take GPUs there. So a
large request is not starved by a stream of small ones: once it is the oldest
head, nothing new is placed on its held node, whose free GPUs only grow as its
servers stop, and it starts at the latest when the servers there end. Younger
small requests still start on the other nodes (backfill).

What the form and the progress page read is :class:`QueueStatus` (position,
estimate, reason), through :class:`QueueView`: a second backend (e.g. Kueue's
visibility API) can answer the same questions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple, Protocol

#: Weight of the newest gap between admissions in the estimate's moving average.
_SMOOTHING = 0.3


@dataclass(frozen=True)
class Waiter:
    """A spawn waiting for GPUs: ``key`` is its pod's ``namespace/name``."""

    key: str
    user: str
    server: str
    size: str
    gpus: int
    joined: float
    deadline: float


class QueueError(ValueError):
    """A spawn that may not join; the message is for the user."""


class QueueStatus(NamedTuple):
    """Where a spawn stands (or would stand, if it joined now)."""

    position: int
    """1 for the head of the line."""
    estimate: float | None
    """Seconds until it may start; ``None`` when there is nothing to base it on."""
    reason: str
    """Why it waits: ``capacity`` (no node has the GPUs free) or ``held`` (a node is held
    for an older, larger request)."""

    @property
    def ahead(self) -> int:
        """Spawns ahead in the line."""
        return self.position - 1


class QueueView(Protocol):
    """What the form and the progress page ask of a queue backend."""

    def status(self, key: str, now: float) -> QueueStatus | None:
        """The spawn ``key``'s place, or ``None`` if it is not waiting."""

    def outlook(self, size: str, now: float) -> QueueStatus:
        """The place a spawn of ``size`` would get if it joined now."""


class State(Enum):
    """What an offer of capacity did for a waiting spawn."""

    ADMITTED = "admitted"
    WAITING = "waiting"
    REFUSED = "refused"


class Outcome(NamedTuple):
    """An attempt's result; ``hold`` is the node a still-waiting spawn holds."""

    state: State
    hold: str | None = None


@dataclass
class _Gaps:
    """A moving average of the seconds between admissions of one size."""

    last: float | None = None
    mean: float | None = None

    def record(self, now: float) -> None:
        if self.last is not None:
            gap = now - self.last
            self.mean = (
                gap if self.mean is None else (1 - _SMOOTHING) * self.mean + _SMOOTHING * gap
            )
        self.last = now


@dataclass
class WaitQueue:
    """The lines, one per size name, oldest first."""

    lines: dict[str, list[Waiter]] = field(default_factory=dict)
    _by_key: dict[str, Waiter] = field(default_factory=dict)
    _gaps: dict[str, _Gaps] = field(default_factory=dict)

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def __len__(self) -> int:
        return len(self._by_key)

    def join(self, waiter: Waiter) -> None:
        """Put ``waiter`` at the end of its size's line."""
        if waiter.key in self._by_key:
            raise QueueError("This server is already waiting.")
        line = self.lines.setdefault(waiter.size, [])
        if any(w.user == waiter.user for w in line):
            raise QueueError(
                "You are already waiting for this size with another server; "
                "stop that one first or pick another size."
            )
        line.append(waiter)
        self._by_key[waiter.key] = waiter

    def leave(self, key: str) -> Waiter | None:
        """Take ``key`` out of its line (admitted, stopped or given up); None if absent."""
        waiter = self._by_key.pop(key, None)
        if waiter is not None:
            self.lines[waiter.size].remove(waiter)
        return waiter

    def admitted(self, waiter: Waiter, now: float) -> None:
        """Record that a spawn of ``waiter``'s size started (for the estimates)."""
        self._gaps.setdefault(waiter.size, _Gaps()).record(now)

    def waiting(self, size: str) -> list[Waiter]:
        """The line of ``size``, oldest first (do not mutate)."""
        return self.lines.get(size, [])

    def waiters(self) -> list[Waiter]:
        """Every waiting spawn, oldest first."""
        return sorted(self._by_key.values(), key=lambda w: w.joined)

    def heads(self) -> list[Waiter]:
        """The head of each line, oldest first."""
        return sorted((line[0] for line in self.lines.values() if line), key=lambda w: w.joined)

    def user_waiting(self, user: str, exclude: str = "") -> dict[str, int]:
        """GPUs ``user`` waits for, by server name (not counting the spawn ``exclude``)."""
        held: dict[str, int] = {}
        for waiter in self._by_key.values():
            if waiter.user == user and waiter.key != exclude:
                held[waiter.server] = held.get(waiter.server, 0) + waiter.gpus
        return held

    def expired(self, now: float) -> list[Waiter]:
        """The spawns whose deadline has passed."""
        return [w for w in self._by_key.values() if w.deadline <= now]

    def _estimate(self, size: str, position: int, now: float) -> float | None:
        gaps = self._gaps.get(size)
        if gaps is None or gaps.mean is None or gaps.last is None:
            return None
        # The next admission is due one mean gap after the last one, then one per gap.
        return max(0.0, gaps.last + gaps.mean * position - now)

    def _reason(self, waiter_joined: float, gpus: int) -> str:
        older = [h for h in self.heads() if h.joined < waiter_joined and h.gpus > gpus]
        return "held" if older else "capacity"

    def status(self, key: str, now: float) -> QueueStatus | None:
        """``key``'s place in its line, or None if it is not waiting."""
        waiter = self._by_key.get(key)
        if waiter is None:
            return None
        position = self.lines[waiter.size].index(waiter) + 1
        return QueueStatus(
            position,
            self._estimate(waiter.size, position, now),
            self._reason(waiter.joined, waiter.gpus),
        )

    def outlook(self, size: str, now: float, gpus: int = 0) -> QueueStatus:
        """The place a spawn of ``size`` (of ``gpus`` GPUs) would get by joining now."""
        position = len(self.waiting(size)) + 1
        return QueueStatus(position, self._estimate(size, position, now), self._reason(now, gpus))


Attempt = Callable[[Waiter, frozenset[str]], Outcome]


def pump(queue: WaitQueue, attempt: Attempt, now: float) -> list[tuple[Waiter, State]]:
    """Offer capacity to the line heads, oldest first; the spawns that left the queue.

    ``attempt(waiter, held)`` runs the spawn's checks without the nodes in
    ``held`` and reserves its GPUs if they pass. A head that must still wait
    holds the node its outcome names. After each admission or refusal the heads
    are offered capacity again, as a new head may now fit.
    """
    done: list[tuple[Waiter, State]] = []
    offered = True
    while offered:
        offered = False
        held: set[str] = set()
        for head in queue.heads():
            outcome = attempt(head, frozenset(held))
            if outcome.state is State.WAITING:
                if outcome.hold is not None:
                    held.add(outcome.hold)
                continue
            queue.leave(head.key)
            if outcome.state is State.ADMITTED:
                queue.admitted(head, now)
            done.append((head, outcome.state))
            offered = True
            break
    return done


def roomiest(free: Iterable[tuple[str, int]], held: frozenset[str]) -> str | None:
    """The node with the most free GPUs that is not held (ties: the first); None if none."""
    best: tuple[int, str] | None = None
    for node, gpus in free:
        if node not in held and (best is None or gpus > best[0]):
            best = (gpus, node)
    return best[1] if best else None
