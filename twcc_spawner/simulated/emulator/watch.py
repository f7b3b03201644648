"""Watch streams: a replay from a resourceVersion, then live changes, filtered alike.

The replay and the live stream go through the same filter (the kind, then the
request's namespace, label and field selectors). ``sendInitialEvents=true`` (the
WatchList protocol newer clients use) sends the current objects as ADDED and then a
BOOKMARK annotated ``k8s.io/initial-events-end``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from . import tables
from .errors import ApiError, gone
from .kinds import Kind
from .selectors import Predicate
from .store import Change, Store

_DEFAULT_WATCH_SECONDS = 1800
_TRUE = {"true", "1", "True"}
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _watch_event(change: Change, kind: Kind, matches: Predicate) -> dict[str, Any] | None:
    """The watch event a change produces for a filtered watch (None if invisible)."""
    if change.plural != kind.key:
        return None
    was = change.old is not None and matches(change.old)
    if change.type == "DELETED":
        return {"type": "DELETED", "object": change.object} if was else None
    now = matches(change.object)
    if now:
        return {"type": "MODIFIED" if was else "ADDED", "object": change.object}
    return {"type": "DELETED", "object": change.object} if was else None


def _bookmark(kind: Kind, resource_version: int, initial_end: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(resource_version)}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta},
    }


def _backlog(store: Store, request: web.Request, kind: Kind, matches: Predicate) -> list[dict]:
    query = request.query
    rv_param = query.get("resourceVersion", "")
    try:
        since = int(rv_param or 0)
    except ValueError as exc:
        raise ApiError(400, f"invalid watch parameter: {exc}") from exc
    initial = query.get("sendInitialEvents") in _TRUE
    if request.get("watch_gone"):
        return [{"type": "ERROR", "object": gone(rv_param).status()}]
    try:
        if since == 0 or initial:
            items = store.items(kind.key)
            backlog = [{"type": "ADDED", "object": o} for o in items if matches(o)]
        else:
            changes = store.history_since(since)
            backlog = [e for c in changes if (e := _watch_event(c, kind, matches))]
    except ApiError as error:
        return [{"type": "ERROR", "object": error.status()}]
    if initial:
        backlog.append(_bookmark(kind, store.resource_version, initial_end=True))
    return backlog


async def serve_watch(
    store: Store, request: web.Request, kind: Kind, matches: Predicate
) -> web.StreamResponse:
    """Stream watch events for ``kind`` until the timeout or the client leaves."""
    try:
        timeout = int(request.query.get("timeoutSeconds", _DEFAULT_WATCH_SECONDS))
    except ValueError as exc:
        raise ApiError(400, f"invalid watch parameter: {exc}") from exc
    queue: asyncio.Queue[Change] = asyncio.Queue()
    unsubscribe = store.subscribe(
        lambda change: queue.put_nowait(change) if change.plural == kind.key else None
    )
    as_table = tables.wanted(request)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})

    async def send(event: dict[str, Any]) -> None:
        if as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            event = {**event, "object": tables.table(kind, [event["object"]], request.query)}
        await response.write(json.dumps(event).encode() + b"\n")

    try:
        backlog = _backlog(store, request, kind, matches)
        await response.prepare(request)
        if request.get("drop_watch"):
            return response
        for event in backlog:
            await send(event)
        if backlog and backlog[-1]["type"] == "ERROR":
            return response
        async with asyncio.timeout(timeout):
            while True:
                if event := _watch_event(await queue.get(), kind, matches):
                    await send(event)
    except (TimeoutError, ConnectionResetError):
        pass
    finally:
        unsubscribe()
    return response
