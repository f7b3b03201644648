"""One list+watch of nodes and one of pods for the whole hub, feeding a :class:`ClusterState`.

Every spawner of the hub reads the same :class:`ClusterWatch`; a preflight
verdict never lists anything. Where RBAC forbids a watch (403), the affected
checks are skipped and one warning is logged, naming the rule that enables them.
Pods fall back to the hub's own namespace, which KubeSpawner's Role already
allows: enough for the GPU quota, not for capacity.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any

from kubernetes_asyncio import client, watch

from .cluster_state import ClusterState, pod_key

ListCall = Callable[..., Awaitable[Any]]

RBAC_HINT = (
    "grant the hub's service account get, list and watch on {resource} cluster-wide "
    "(a ClusterRole and ClusterRoleBinding; see docs/preflight.md)"
)


class Forbidden(Exception):
    """The API server answered 403."""


class Informer:
    """List, then watch from the list's resourceVersion; relist after errors.

    ``scopes`` are ``(name, list_call)`` pairs, widest first: a scope that is
    forbidden is skipped for the next (and retried every ``retry_seconds``).
    A list feeds each object to ``on_set`` page by page, then gives ``on_keep``
    the keys it saw, so that objects gone meanwhile are dropped.
    """

    def __init__(
        self,
        kind: str,
        scopes: Sequence[tuple[str, ListCall]],
        key: Callable[[Mapping[str, Any]], str],
        on_set: Callable[[Mapping[str, Any]], None],
        on_delete: Callable[[str], None],
        on_keep: Callable[[set[str]], None],
        log: logging.Logger,
        warn_once: Callable[[str, str], None],
        watch_seconds: int = 300,
        retry_seconds: float = 60.0,
        page_size: int = 500,
    ) -> None:
        self.kind = kind
        self.scopes = scopes
        self.key, self.on_set, self.on_delete, self.on_keep = key, on_set, on_delete, on_keep
        self.log, self.warn_once = log, warn_once
        self.watch_seconds, self.retry_seconds = watch_seconds, retry_seconds
        self.page_size = page_size
        self.scope: str | None = None
        self.synced = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def widest(self) -> bool:
        """Whether the cache holds the widest scope (e.g. every namespace's pods)."""
        return self.scope is not None and self.scope == self.scopes[0][0]

    def start(self) -> None:
        """Start listing and watching in the background."""
        self.task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        """Stop watching."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _page(self, call: ListCall, token: str | None) -> Mapping[str, Any] | None:
        """One page of a list (its parsed body), or None if the scope is forbidden."""
        pagination = {"_continue": token} if token else {}
        response = await call(
            limit=self.page_size, _preload_content=False, _request_timeout=60, **pagination
        )
        if response.status == 403:
            return None
        if response.status != 200:
            raise client.ApiException(status=response.status, reason=response.reason)
        body: Mapping[str, Any] = json.loads(await response.read())
        return body

    async def _list(self) -> tuple[ListCall, str]:
        """List the widest permitted scope into the state; returns its call and resourceVersion."""
        for name, call in self.scopes:
            body = await self._page(call, None)
            if body is None:
                self.warn_once(
                    f"{self.kind}:{name}",
                    f"Listing {self.kind} ({name}) is forbidden (403); "
                    + RBAC_HINT.format(resource=self.kind),
                )
                continue
            resource_version = body["metadata"]["resourceVersion"]
            seen: set[str] = set()
            while body is not None:
                for obj in body["items"]:
                    seen.add(self.key(obj))
                    self.on_set(obj)
                token = body["metadata"].get("continue")
                body = await self._page(call, token) if token else None
            if self.scope != name:
                self.log.info("Preflight: watching %s (%s)", self.kind, name)
            self.scope = name
            self.on_keep(seen)
            return call, resource_version
        raise Forbidden(self.kind)

    async def _watch(self, call: ListCall, resource_version: str) -> str:
        """Apply watch events until the server ends the watch; returns the last resourceVersion."""
        stream = watch.Watch()
        # Behind a partial, Watch cannot find the model type, so events stay plain dicts.
        method = partial(call)
        try:
            async with stream.stream(
                method, resource_version=resource_version, timeout_seconds=self.watch_seconds
            ) as events:
                async for event in events:
                    obj = event["raw_object"]
                    if event["type"] == "DELETED":
                        self.on_delete(self.key(obj))
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self.on_set(obj)
                    resource_version = obj["metadata"].get("resourceVersion", resource_version)
        finally:
            stream.stop()
            await stream.close()
        return resource_version

    async def run(self) -> None:
        """List and watch until cancelled."""
        delay = 0.1
        while True:
            try:
                call, resource_version = await self._list()
                self.synced.set()
                delay = 0.1
                relist_at = time.monotonic() + (0 if self.widest else self.retry_seconds)
                while self.widest or time.monotonic() < relist_at:
                    resource_version = await self._watch(call, resource_version)
            except asyncio.CancelledError:
                raise
            except Forbidden:
                self.scope = None
                self.synced.set()
                await asyncio.sleep(self.retry_seconds)
            except Exception as error:
                gone = isinstance(error, client.ApiException) and error.status == 410
                if not gone:
                    self.log.warning(
                        "Preflight: watching %s failed (%s); relisting in %.1fs",
                        self.kind,
                        error,
                        delay,
                    )
                    self.scope = None
                    self.synced.set()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)


class ClusterWatch:
    """The hub's :class:`ClusterState`, fed by one node informer and one pod informer."""

    def __init__(
        self,
        api: client.CoreV1Api,
        namespace: str,
        gpu_resource: str,
        log: logging.Logger,
        watch_seconds: int = 300,
        retry_seconds: float = 60.0,
        page_size: int = 500,
    ) -> None:
        self.log = log
        self.loop = asyncio.get_running_loop()
        self.state = ClusterState(gpu_resource)
        self.warned: set[str] = set()
        state = self.state
        common: dict[str, Any] = dict(
            log=log,
            warn_once=self.warn_once,
            watch_seconds=watch_seconds,
            retry_seconds=retry_seconds,
            page_size=page_size,
        )
        self.nodes = Informer(
            "nodes",
            [("cluster", api.list_node)],
            lambda obj: obj["metadata"]["name"],
            state.set_node,
            state.remove_node,
            state.keep_nodes,
            **common,
        )
        self.pods = Informer(
            "pods",
            [
                ("cluster", api.list_pod_for_all_namespaces),
                (f"namespace {namespace}", partial(api.list_namespaced_pod, namespace)),
            ],
            pod_key,
            state.set_pod,
            state.remove_pod,
            state.keep_pods,
            **common,
        )

    def warn_once(self, key: str, message: str) -> None:
        """Log ``message`` as a warning the first time ``key`` is seen."""
        if key not in self.warned:
            self.warned.add(key)
            self.log.warning("Preflight: %s", message)

    def start(self) -> None:
        """Start both informers."""
        self.nodes.start()
        self.pods.start()

    async def stop(self) -> None:
        """Stop both informers."""
        await self.nodes.stop()
        await self.pods.stop()

    async def wait_synced(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until both informers listed once or gave up."""
        waits = [asyncio.ensure_future(i.synced.wait()) for i in (self.nodes, self.pods)]
        _, pending = await asyncio.wait(waits, timeout=timeout)
        for task in pending:
            task.cancel()

    @property
    def nodes_known(self) -> bool:
        """Whether the node cache is live."""
        return self.nodes.widest

    @property
    def pods_scope(self) -> str | None:
        """``"cluster"``, ``"namespace <ns>"`` or None (no pod cache)."""
        return self.pods.scope
