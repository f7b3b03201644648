"""TWCCSpawner's queue against the emulator: waiting, order, no over-commit, leaving, limits."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import test_preflight_spawner as preflight_tests
from prometheus_client import REGISTRY
from test_preflight_spawner import cluster, eventually

from twcc_spawner import TWCCSpawner

hub = preflight_tests.hub  # the fixture: an emulator and spawners on it


def named(server: str) -> dict:
    """Spawner config for a named server."""
    return {
        "orm_spawner": SimpleNamespace(name=server, display_name=server, state=None, server=None)
    }


def queue():
    return TWCCSpawner._hub_queue


def reserved_gpus() -> int:
    return sum(r.usage.gpus for r in TWCCSpawner._cluster_watch.state.reservations.values())


async def settle(*tasks: asyncio.Task) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_fifty_simultaneous_spawns_wait_in_order_and_never_overcommit(hub) -> None:
    make = await hub(cluster(nodes=5))  # 40 GPUs
    spawners = [make(f"user{i}", release="22.02", gpus=2) for i in range(50)]
    tasks = [asyncio.ensure_future(s.load_user_options()) for s in spawners]
    await eventually(lambda: sum(t.done() for t in tasks) == 20 and len(queue().model) == 30)
    admitted = [s for s, t in zip(spawners, tasks, strict=True) if t.done()]
    assert all(t.result() is None for t in tasks if t.done())
    assert reserved_gpus() == 40
    waiting = [s for s in spawners if s not in admitted]
    assert [queue().status(s.pod_key).position for s in waiting] == list(range(1, 31))

    order = []
    for spawner in admitted[:10]:  # ten servers end: the next ten start, first come first
        spawner.release_gpus()
        head = next(s for s in waiting if s.pod_key in queue().model)
        await eventually(lambda head=head: head.pod_key not in queue().model)
        order.append(head)
        assert reserved_gpus() <= 40
    assert order == waiting[:10]
    assert reserved_gpus() == 40 and len(queue().model) == 20
    messages = [e["message"] for e in waiting[0]._preflight_events]
    assert "Waiting for a 2-GPU slot: number 1 in line" in messages
    assert messages[-1] == "Capacity: 2 GPUs held for you on one of 5 suitable nodes."
    await settle(*tasks)
    assert len(queue().model) == 0  # stopped spawns leave at once


async def test_stopping_leaves_the_queue_at_once_and_the_line_moves_up(hub) -> None:
    make = await hub(cluster(nodes=1, gpus=8))
    first = make("ann", release="22.02", gpus=8)
    await first.load_user_options()
    waiting = [make(n, release="22.02", gpus=8) for n in ("bo", "cy", "di")]
    tasks = [asyncio.ensure_future(s.load_user_options()) for s in waiting]
    await eventually(lambda: len(queue().model) == 3)
    await settle(tasks[0])
    assert waiting[0].pod_key not in queue().model
    assert [queue().status(s.pod_key).position for s in waiting[1:]] == [1, 2]
    await settle(*tasks)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_wait_ends_with_a_message_after_queue_max_wait(hub) -> None:
    gave_up = sample("twcc_queue_gave_up_total", size="c.4xsuper", reason="timeout")
    waits = sample("twcc_queue_wait_seconds_count", size="c.4xsuper", outcome="timeout")
    make = await hub(cluster(nodes=1, gpus=8))
    await make("ann", release="22.02", gpus=8).load_user_options()
    late = make(
        "bo", release="22.02", gpus=8, config={"queue_max_wait_by_size": {"c.4xsuper": 0.3}}
    )
    with pytest.raises(Exception) as info:
        await late.load_user_options()
    error = info.value
    assert (error.reason, error.status_code) == ("queue_timeout", 503)
    assert error.jupyterhub_message.startswith("No 8-GPU slot came free within 0 min")
    assert len(queue().model) == 0
    assert sample("twcc_queue_gave_up_total", size="c.4xsuper", reason="timeout") == gave_up + 1
    count = sample("twcc_queue_wait_seconds_count", size="c.4xsuper", outcome="timeout")
    assert count == waits + 1
    assert sample("twcc_queue_length", size="c.4xsuper") == 0


async def test_one_wait_per_user_and_size_and_waiting_gpus_count_for_the_quota(hub) -> None:
    make = await hub(cluster(nodes=1, gpus=8))
    await make("ann", release="22.02", gpus=8).load_user_options()
    quota = {"gpu_quota": 10}
    bo = make("bo", release="22.02", gpus=8, config=quota)
    task = asyncio.ensure_future(bo.load_user_options())
    await eventually(lambda: bo.pod_key in queue().model)

    again = make("bo", release="22.02", gpus=8, config=named("second"))
    with pytest.raises(Exception) as info:
        await again.load_user_options()
    assert (info.value.reason, info.value.status_code) == ("queue", 409)
    assert "already waiting for this size" in info.value.jupyterhub_message

    more = make("bo", release="22.02", gpus=4, config={**quota, **named("third")})
    with pytest.raises(Exception) as info:
        await more.load_user_options()
    assert (info.value.reason, info.value.status_code) == ("quota", 403)
    assert "You hold 8 of your 10 GPUs (servers: default 8)" in info.value.jupyterhub_message
    assert len(queue().model) == 1
    await settle(task)


async def test_forged_options_are_refused_before_anything_is_queued(hub) -> None:
    make = await hub(cluster(nodes=1, gpus=8))
    await make("ann", release="22.02", gpus=8).load_user_options()
    for options in ({"release": "22.02", "gpus": 8, "queue": "front"}, {"size": "c.99"}):
        with pytest.raises(Exception) as info:
            await make("bo", **options).load_user_options()
        assert (info.value.reason, info.value.status_code) == ("invalid_selection", 400)
    assert TWCCSpawner._hub_queue is None or len(queue().model) == 0


async def test_start_timeout_is_lengthened_by_the_longest_wait(hub) -> None:
    make = await hub(cluster(nodes=1, gpus=8))
    config = {
        "start_timeout": 60,
        "queue_max_wait": 600,
        "queue_max_wait_by_size": {"c.super": 900},
    }
    spawner = make("ann", release="22.02", gpus=1, config=config)
    future = spawner.start()
    assert spawner.start_timeout == 960
    spawner.start()  # a second start does not stack
    assert spawner.start_timeout == 960
    await settle(future, spawner._start_future)
    no_queue = make("bo", release="22.02", gpus=1, config={**config, "queue_enabled": False})
    await settle(no_queue.start())
    assert no_queue.start_timeout == 60
