"""The queue model: FIFO per size, one wait per user and size, quotas, the starvation bound."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from twcc_spawner.queue.model import (
    Outcome,
    QueueError,
    State,
    Waiter,
    WaitQueue,
    pump,
    roomiest,
)


def waiter(key: str, user: str = "", size: str = "2", gpus: int = 2, joined: float = 0.0) -> Waiter:
    return Waiter(key, user or key, "", size, gpus, joined, deadline=joined + 1800)


@dataclass
class ToyCluster:
    """Nodes with free GPUs; attempts place a waiter on the fullest node with room."""

    free: dict[str, int]
    respect_holds: bool = True
    placed: dict[str, str] = field(default_factory=dict)

    def attempt(self, w: Waiter, held: frozenset[str]) -> Outcome:
        held = held if self.respect_holds else frozenset()
        room = [(g, n) for n, g in self.free.items() if n not in held and g >= w.gpus]
        if room:
            _, node = min(room)
            self.free[node] -= w.gpus
            self.placed[w.key] = node
            return Outcome(State.ADMITTED)
        return Outcome(State.WAITING, roomiest(self.free.items(), held))

    def stop(self, key: str, gpus: int) -> None:
        self.free[self.placed.pop(key)] += gpus


def test_first_in_first_out_within_a_size() -> None:
    queue, cluster = WaitQueue(), ToyCluster({"n1": 0})
    for i, name in enumerate(["ann", "bo", "cy"]):
        queue.join(waiter(name, joined=i))
    assert [queue.status(n, 5).position for n in ("ann", "bo", "cy")] == [1, 2, 3]
    admitted = []
    for _ in range(3):
        cluster.free["n1"] += 2
        admitted += [
            w.key for w, state in pump(queue, cluster.attempt, 10) if state is State.ADMITTED
        ]
    assert admitted == ["ann", "bo", "cy"] and len(queue) == 0


def test_a_head_that_does_not_fit_does_not_let_its_line_jump_it() -> None:
    queue, cluster = WaitQueue(), ToyCluster({"n1": 1})
    queue.join(waiter("big", gpus=2, size="2"))
    queue.join(waiter("next", gpus=2, size="2", joined=1))
    assert pump(queue, cluster.attempt, 2) == []
    assert queue.status("next", 2).position == 2


def test_one_waiting_spawn_per_user_per_size() -> None:
    queue = WaitQueue()
    queue.join(Waiter("ns/jupyter-ann", "ann", "", "c.xsuper", 2, 0, 60))
    with pytest.raises(QueueError, match="already waiting for this size"):
        queue.join(Waiter("ns/jupyter-ann-second", "ann", "second", "c.xsuper", 2, 1, 60))
    queue.join(Waiter("ns/jupyter-ann-big", "ann", "big", "c.4xsuper", 8, 2, 60))  # another size
    with pytest.raises(QueueError, match="already waiting"):
        queue.join(Waiter("ns/jupyter-ann", "ann", "", "c.super", 1, 3, 60))  # the same server


def test_waiting_gpus_count_against_the_quota() -> None:
    queue = WaitQueue()
    queue.join(Waiter("ns/jupyter-ann", "ann", "", "c.xsuper", 2, 0, 60))
    queue.join(Waiter("ns/jupyter-ann-big", "ann", "big", "c.4xsuper", 8, 1, 60))
    queue.join(Waiter("ns/jupyter-bo", "bo", "", "c.xsuper", 2, 2, 60))
    assert queue.user_waiting("ann") == {"": 2, "big": 8}
    assert queue.user_waiting("ann", exclude="ns/jupyter-ann-big") == {"": 2}
    queue.leave("ns/jupyter-ann")
    assert queue.user_waiting("ann") == {"big": 8}


def test_a_refused_head_leaves_and_the_next_is_offered_capacity() -> None:
    queue = WaitQueue()
    queue.join(waiter("gone"))
    queue.join(waiter("next", joined=1))

    def attempt(w: Waiter, held: frozenset[str]) -> Outcome:
        return Outcome(State.REFUSED if w.key == "gone" else State.ADMITTED)

    assert [(w.key, s) for w, s in pump(queue, attempt, 2)] == [
        ("gone", State.REFUSED),
        ("next", State.ADMITTED),
    ]


def test_estimates_follow_the_pace_of_admissions_and_deadlines_expire() -> None:
    queue, cluster = WaitQueue(), ToyCluster({"n1": 0})
    assert queue.outlook("2", 0).estimate is None  # nothing to base it on yet
    for i in range(5):
        queue.join(waiter(f"w{i}", joined=i))
    for t in (100, 400, 700):  # one admission every 300 s
        cluster.free["n1"] += 2
        pump(queue, cluster.attempt, t)
    status = queue.status("w4", 700)
    assert status.position == 2 and status.ahead == 1
    assert status.estimate == pytest.approx(2 * 300)
    assert queue.outlook("2", 760).estimate == pytest.approx(3 * 300 - 60)
    assert [w.key for w in queue.expired(1803)] == ["w3"]


def test_a_waiter_behind_an_older_larger_head_is_held_back() -> None:
    queue = WaitQueue()
    queue.join(waiter("large", size="8", gpus=8))
    queue.join(waiter("small", size="1", gpus=1, joined=1))
    assert queue.status("small", 2).reason == "held"
    assert queue.status("large", 2).reason == "capacity"
    assert queue.outlook("1", 3, gpus=1).reason == "held"


def simulate(respect_holds: bool, seed: int = 7) -> float | None:
    """3 nodes × 8 GPUs full of 1-GPU servers (lifetimes up to 600 s), a 1-GPU arrival
    every 10 s, and an 8-GPU request at t=100: when (if ever) the 8-GPU one starts."""
    rng = random.Random(seed)
    cluster = ToyCluster({f"n{i}": 8 for i in range(3)}, respect_holds)
    queue = WaitQueue()
    ends: dict[str, float] = {}
    count = 0

    def arrive(t: float, gpus: int = 1) -> None:
        nonlocal count
        count += 1
        queue.join(waiter(f"s{count}", size=str(gpus), gpus=gpus, joined=t))

    for _ in range(24):
        arrive(0)
    for t in range(0, 3600):
        for key, end in list(ends.items()):
            if end <= t:
                cluster.stop(key, 8 if key == "large" else 1)
                del ends[key]
        if t % 10 == 0:
            arrive(t)
        if t == 100:
            queue.join(waiter("large", size="8", gpus=8, joined=t))
        for w, state in pump(queue, cluster.attempt, t):
            assert state is State.ADMITTED
            if w.key == "large":
                return float(t)
            ends[w.key] = t + rng.uniform(60, 600)
        assert all(free >= 0 for free in cluster.free.values())  # never over-committed
    return None


def test_an_8_gpu_request_starts_within_the_longest_session_while_1_gpu_ones_keep_coming() -> None:
    started = simulate(respect_holds=True)
    assert started is not None and started - 100 <= 600
    # Without the hold, the stream of small requests starves it for the whole hour.
    assert simulate(respect_holds=False) is None


def test_roomiest_skips_held_nodes() -> None:
    free = [("a", 3), ("b", 5), ("c", 5)]
    assert roomiest(free, frozenset()) == "b"
    assert roomiest(free, frozenset({"b"})) == "c"
    assert roomiest(free, frozenset({"a", "b", "c"})) is None
