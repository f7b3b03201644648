"""In-memory object store with a global resourceVersion, change history and subscribers."""

from __future__ import annotations

import asyncio
import bisect
import copy
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import already_exists, conflict, gone, not_found

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects


def now() -> str:
    """The current time in the RFC 3339 form the API server uses."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(obj: Obj) -> Key:
    """The store key of an object."""
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


@dataclass(frozen=True)
class Change:
    """One write: ``type`` is ADDED, MODIFIED or DELETED; ``old`` is the previous object."""

    plural: str
    type: str
    object: Obj
    old: Obj | None
    resource_version: int


Subscriber = Callable[[Change], None]


class Store:
    """Objects by resource plural, with a bounded change history for watch replay.

    All methods are synchronous and must be called from the emulator's event loop;
    subscribers are called synchronously after every write.
    """

    def __init__(self, history_size: int = 1000) -> None:
        self._objects: dict[str, dict[Key, Obj]] = {}
        self._sorted: dict[str, list[Key]] = {}  # keys in order, dropped on create/delete
        self._rv = 0
        self._history: deque[Change] = deque(maxlen=history_size)
        self._compacted = 0
        self._subscribers: list[Subscriber] = []
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def resource_version(self) -> int:
        """The resourceVersion of the latest write."""
        return self._rv

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` on every change; returns an unsubscribe function."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def history_since(self, resource_version: int) -> list[Change]:
        """Changes newer than ``resource_version``; raises 410 if they were compacted away."""
        if resource_version < self._compacted:
            raise gone(str(resource_version))
        return [c for c in self._history if c.resource_version > resource_version]

    def get(self, plural: str, namespace: str, name: str) -> Obj:
        """A deep copy of one object; raises 404."""
        obj = self._objects.get(plural, {}).get((namespace, name))
        if obj is None:
            raise not_found(plural, name)
        return copy.deepcopy(obj)

    def find(self, plural: str, namespace: str, name: str) -> Obj | None:
        """A deep copy of one object, or None."""
        obj = self._objects.get(plural, {}).get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def items(
        self, plural: str, namespace: str | None = None, after: Key | None = None
    ) -> Iterator[Obj]:
        """The stored objects of ``plural`` (not copies: do not mutate), sorted by key.

        ``after`` starts past that key (a list page's continuation).
        """
        objects = self._objects.get(plural, {})
        keys = self._sorted.get(plural)
        if keys is None:
            keys = self._sorted[plural] = sorted(objects)
        start = bisect.bisect_right(keys, after) if after is not None else 0
        for key in keys[start:]:
            if (namespace is None or key[0] == namespace) and key in objects:
                yield objects[key]

    def create(self, plural: str, obj: Obj) -> Obj:
        """Store a new object, stamping uid, creationTimestamp and resourceVersion."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        key = key_of(obj)
        objects = self._objects.setdefault(plural, {})
        if key in objects:
            raise already_exists(plural, key[1])
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now())
        objects[key] = obj
        self._sorted.pop(plural, None)
        return self._record(plural, "ADDED", obj, None)

    def update(self, plural: str, obj: Obj, *, check_version: bool = False) -> Obj:
        """Replace an existing object; with ``check_version`` reject a stale resourceVersion."""
        obj = copy.deepcopy(obj)
        key = key_of(obj)
        objects = self._objects.get(plural, {})
        old = objects.get(key)
        if old is None:
            raise not_found(plural, key[1])
        given = obj["metadata"].get("resourceVersion")
        if check_version and given and given != old["metadata"]["resourceVersion"]:
            raise conflict(plural, key[1])
        for field in ("uid", "creationTimestamp", "name", "namespace"):
            if field in old["metadata"]:
                obj["metadata"][field] = old["metadata"][field]
        objects[key] = obj
        return self._record(plural, "MODIFIED", obj, old)

    def delete(self, plural: str, namespace: str, name: str) -> Obj:
        """Remove an object at once, emitting DELETED."""
        old = self._objects.get(plural, {}).pop((namespace, name), None)
        if old is None:
            raise not_found(plural, name)
        self._sorted.pop(plural, None)
        return self._record(plural, "DELETED", copy.deepcopy(old), old)

    def _record(self, plural: str, kind: str, obj: Obj, old: Obj | None) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].resource_version
        change = Change(plural, kind, copy.deepcopy(obj), old, self._rv)
        self._history.append(change)
        for subscriber in list(self._subscribers):
            subscriber(change)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        return copy.deepcopy(obj)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked after every write) and return it."""
        async with asyncio.timeout(timeout):
            while not (result := predicate()):
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.add(waiter)
                try:
                    await waiter
                finally:
                    self._waiters.discard(waiter)
            return result
