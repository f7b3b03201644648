"""The aiohttp application serving the core/v1 API from a :class:`Store`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from aiohttp import web

from .errors import ApiError, gone
from .faults import Faults
from .patch import json_patch, merge_patch
from .references import admit
from .resources import RESOURCES, Resource, prepare_new
from .selectors import Predicate, field_selector, label_selector
from .store import Change, Obj, Store
from .validation import KUBERNETES_VERSION, validate

#: Answers a pod's ``log`` subresource request (see :mod:`.log_api`).
PodLogs = Callable[[web.Request, Obj], Awaitable[web.StreamResponse]]

_TRUE = {"true", "1", "True"}
_MERGE_TYPES = {
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json",
}
_DEFAULT_WATCH_SECONDS = 1800
_REQUEST_LOG_SIZE = 10_000


class LoggedRequest(NamedTuple):
    """A request as it arrived: ``time.monotonic()``, method, and path with query."""

    at: float
    method: str
    path: str


class ApiServer:
    """Routes core/v1 REST requests to the store.

    :attr:`requests` logs the latest requests as they arrive (oldest dropped
    first), so tests and benchmarks can count the calls a client makes.
    """

    def __init__(self, store: Store, faults: Faults, pod_logs: PodLogs) -> None:
        self.store = store
        self.faults = faults
        self.pod_logs = pod_logs
        self.requests: deque[LoggedRequest] = deque(maxlen=_REQUEST_LOG_SIZE)

    def app(self) -> web.Application:
        """Build the aiohttp application."""
        app = web.Application(middlewares=[self._middleware])
        for path, handler in (
            ("/version", self._version),
            ("/api", self._api_versions),
            ("/apis", self._api_groups),
            ("/api/v1", self._resource_list),
        ):
            app.router.add_get(path, handler)
            app.router.add_get(path + "/", handler)
        app.router.add_route("*", "/api/v1/{tail:.+}", self._dispatch)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append(LoggedRequest(time.monotonic(), request.method, request.path_qs))
        try:
            if rule := self.faults.match(request.method, request.path_qs):
                await asyncio.sleep(rule.delay)
                if rule.reset and request.transport is not None:
                    request.transport.abort()
                    raise ConnectionResetError("injected fault: connection reset")
                if rule.status is not None:
                    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after else None
                    error = ApiError(rule.status, f"injected fault: {rule.path}")
                    return web.json_response(error.status(), status=error.code, headers=headers)
                request["drop_watch"] = rule.drop_watch
                request["watch_gone"] = rule.gone
            return await handler(request)
        except ApiError as error:
            return web.json_response(error.status(), status=error.code)

    async def _version(self, request: web.Request) -> web.Response:
        major, minor = KUBERNETES_VERSION.split(".")
        return web.json_response(
            {
                "major": major,
                "minor": minor,
                "gitVersion": f"v{KUBERNETES_VERSION}.0-twcc-emulator",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2024-01-01T00:00:00Z",
                "goVersion": "go1.22.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    async def _api_versions(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}
                ],
            }
        )

    async def _api_groups(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def _resource_list(self, request: web.Request) -> web.Response:
        resources = []
        for r in RESOURCES.values():
            resources.append(
                {
                    "name": r.plural,
                    "singularName": r.kind.lower(),
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": list(r.verbs),
                }
            )
        resources.append(
            {
                "name": "pods/status",
                "singularName": "",
                "namespaced": True,
                "kind": "Pod",
                "verbs": ["get", "patch", "update"],
            }
        )
        resources.append(
            {
                "name": "pods/log",
                "singularName": "",
                "namespaced": True,
                "kind": "Pod",
                "verbs": ["get"],
            }
        )
        return web.json_response(
            {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}
        )

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = request.match_info["tail"].strip("/").split("/")
        namespace: str | None = None
        if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] != "status":
            namespace, parts = parts[1], parts[2:]
        plural, name, sub = [*parts, None, None][:3]
        resource = RESOURCES.get(plural or "")
        if (
            resource is None
            or len(parts) > 3
            or (namespace is not None and not resource.namespaced)
            or (namespace is None and resource.namespaced and name is not None)
            or sub not in (None, "status", "log")
            or (sub == "log" and plural != "pods")
        ):
            raise ApiError(404, "the server could not find the requested resource")
        method = request.method
        if name is None:
            if method == "GET":
                return await self._list_or_watch(request, resource, namespace)
            if method == "POST" and resource.namespaced == (namespace is not None):
                return await self._create(request, resource, namespace or "")
        else:
            ns = namespace or ""
            if sub == "log" and method == "GET":
                return await self.pod_logs(request, self.store.get("pods", ns, name))
            if method == "GET":
                return self._json(self.store.get(resource.plural, ns, name))
            if method == "PATCH":
                return await self._patch(request, resource, ns, name, sub == "status")
            if method == "PUT":
                return await self._replace(request, resource, ns, name, sub == "status")
            if method == "DELETE" and sub is None:
                return await self._delete(request, resource, ns, name)
        raise ApiError(405, "the server does not allow this method on the requested resource")

    @staticmethod
    def _json(obj: Any, status: int = 200) -> web.Response:
        return web.json_response(obj, status=status)

    @staticmethod
    async def _body(request: web.Request) -> Any:
        try:
            return json.loads(await request.read() or b"null")
        except ValueError as exc:
            raise ApiError(400, f"malformed JSON body: {exc}") from exc

    async def _create(
        self, request: web.Request, resource: Resource, namespace: str
    ) -> web.Response:
        obj = await self._body(request)
        if not isinstance(obj, dict):
            raise ApiError(400, "the request body must be a JSON object")
        if obj.setdefault("kind", resource.kind) != resource.kind:
            raise ApiError(400, f"expected kind {resource.kind}, got {obj['kind']}")
        obj.setdefault("apiVersion", "v1")
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if resource.namespaced:
            self.store.get("namespaces", "", namespace)
            if meta.get("namespace", namespace) != namespace:
                raise ApiError(400, "the namespace of the object does not match the request")
        validate(resource.kind, obj)
        obj = prepare_new(resource, obj, namespace)
        admit(self.store, resource.plural, obj)
        return self._json(self.store.create(resource.plural, obj), 201)

    async def _patch(
        self, request: web.Request, resource: Resource, ns: str, name: str, status_only: bool
    ) -> web.Response:
        body = await self._body(request)
        current = self.store.get(resource.plural, ns, name)
        if request.content_type == "application/json-patch+json":
            patched = json_patch(current, body)
        elif request.content_type in _MERGE_TYPES:
            patched = merge_patch(current, body)
        else:
            raise ApiError(415, f"unsupported patch content type {request.content_type}")
        return self._json(self._write(resource, current, patched, status_only))

    async def _replace(
        self, request: web.Request, resource: Resource, ns: str, name: str, status_only: bool
    ) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict) or body.get("metadata", {}).get("name") != name:
            raise ApiError(400, "the name of the object does not match the request")
        current = self.store.get(resource.plural, ns, name)
        return self._json(self._write(resource, current, body, status_only))

    def _write(self, resource: Resource, current: Obj, new: Obj, status_only: bool) -> Obj:
        if status_only:
            current["status"] = new.get("status", {})
            current["metadata"]["resourceVersion"] = new["metadata"].get("resourceVersion")
            new = current
        new["metadata"]["namespace"] = current["metadata"].get("namespace")
        if not resource.namespaced:
            new["metadata"].pop("namespace")
        validate(resource.kind, new)
        return self.store.update(resource.plural, new, check_version=True)

    async def _delete(
        self, request: web.Request, resource: Resource, ns: str, name: str
    ) -> web.Response:
        body = await self._body(request)
        grace = request.query.get("gracePeriodSeconds")
        if grace is None and isinstance(body, dict):
            grace = body.get("gracePeriodSeconds")
        obj = self.store.get(resource.plural, ns, name)
        if resource.plural == "pods" and obj["spec"].get("nodeName"):
            return self._json(self._start_graceful_deletion(obj, grace))
        if resource.plural == "namespaces":
            for r in RESOURCES.values():
                for item in list(self.store.items(r.plural, name) if r.namespaced else ()):
                    self.store.delete(r.plural, name, item["metadata"]["name"])
        return self._json(self.store.delete(resource.plural, ns, name))

    def _start_graceful_deletion(self, pod: Obj, grace: Any) -> Obj:
        """Mark a bound pod for deletion; the kubelet stops it and removes the object."""
        meta = pod["metadata"]
        seconds = int(grace) if grace is not None else pod["spec"]["terminationGracePeriodSeconds"]
        if meta.get("deletionTimestamp") and seconds >= meta.get("deletionGracePeriodSeconds", 0):
            return pod
        deadline = datetime.now(UTC) + timedelta(seconds=seconds)
        meta["deletionTimestamp"] = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
        meta["deletionGracePeriodSeconds"] = seconds
        return self.store.update("pods", pod)

    def _predicate(
        self, resource: Resource, namespace: str | None, query: Mapping[str, str]
    ) -> Predicate:
        labels = label_selector(query.get("labelSelector"))
        fields = field_selector(resource.plural, query.get("fieldSelector"))

        def matches(obj: Mapping[str, Any]) -> bool:
            in_ns = namespace is None or obj["metadata"].get("namespace") == namespace
            return in_ns and labels(obj) and fields(obj)

        return matches

    async def _list_or_watch(
        self, request: web.Request, resource: Resource, namespace: str | None
    ) -> web.StreamResponse:
        query = request.query
        matches = self._predicate(resource, namespace, query)
        if query.get("watch") in _TRUE:
            return await self._watch(request, resource, matches)
        limit = _int_param(query, "limit")
        resource_version, after = _continuation(query.get("continue"))
        matching = (
            obj for obj in self.store.items(resource.plural, namespace, after) if matches(obj)
        )
        items = list(itertools.islice(matching, limit or None))
        metadata = {"resourceVersion": resource_version or str(self.store.resource_version)}
        if limit and items and next(matching, None) is not None:
            metadata["continue"] = _continue_token(metadata["resourceVersion"], items[-1])
        return self._json(
            {
                "kind": f"{resource.kind}List",
                "apiVersion": "v1",
                "metadata": metadata,
                "items": items,
            }
        )

    async def _watch(
        self, request: web.Request, resource: Resource, matches: Predicate
    ) -> web.StreamResponse:
        rv_param = request.query.get("resourceVersion", "")
        try:
            since = int(rv_param or 0)
            timeout = int(request.query.get("timeoutSeconds", _DEFAULT_WATCH_SECONDS))
        except ValueError as exc:
            raise ApiError(400, f"invalid watch parameter: {exc}") from exc
        queue: asyncio.Queue[Change] = asyncio.Queue()
        unsubscribe = self.store.subscribe(
            lambda change: queue.put_nowait(change) if change.plural == resource.plural else None
        )
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            backlog: list[dict[str, Any]] = []
            try:
                if since == 0:
                    items = self.store.items(resource.plural)
                    backlog = [{"type": "ADDED", "object": o} for o in items if matches(o)]
                else:
                    changes = self.store.history_since(since)
                    backlog = [e for c in changes if (e := _watch_event(c, matches))]
            except ApiError as error:
                backlog = [{"type": "ERROR", "object": error.status()}]
            await response.prepare(request)
            if request.get("drop_watch"):
                return response
            if request.get("watch_gone"):
                backlog = [{"type": "ERROR", "object": gone(rv_param).status()}]
            for event in backlog:
                await _send(response, event)
            if backlog and backlog[-1]["type"] == "ERROR":
                return response
            async with asyncio.timeout(timeout):
                while True:
                    if event := _watch_event(await queue.get(), matches):
                        await _send(response, event)
        except (TimeoutError, ConnectionResetError):
            pass
        finally:
            unsubscribe()
        return response


def _int_param(query: Mapping[str, str], name: str) -> int:
    try:
        value = int(query.get(name) or 0)
    except ValueError as exc:
        raise ApiError(400, f"invalid {name} parameter: {exc}") from exc
    if value < 0:
        raise ApiError(400, f"{name} must not be negative")
    return value


def _continue_token(resource_version: str, last: Obj) -> str:
    """An opaque token for the page after ``last``: the list's resourceVersion and its key."""
    meta = last["metadata"]
    state = [resource_version, meta.get("namespace", ""), meta["name"]]
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _continuation(token: str | None) -> tuple[str | None, tuple[str, str] | None]:
    """``(resourceVersion, key after which to go on)`` of a ``continue`` token (or Nones).

    Unlike the API server, the emulator keeps no snapshot: later pages show the
    objects as they are now, with the first page's resourceVersion. A client that
    watches from that resourceVersion (as informers do) still ends up consistent.
    """
    if not token:
        return None, None
    try:
        resource_version, namespace, name = json.loads(base64.urlsafe_b64decode(token))
        return str(resource_version), (str(namespace), str(name))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ApiError(400, "continue key is not valid") from exc


async def _send(response: web.StreamResponse, event: dict[str, Any]) -> None:
    await response.write(json.dumps(event).encode() + b"\n")


def _watch_event(change: Change, matches: Predicate) -> dict[str, Any] | None:
    """The watch event a change produces for a filtered watch (None if invisible)."""
    was = change.old is not None and matches(change.old)
    if change.type == "DELETED":
        return {"type": "DELETED", "object": change.object} if was else None
    now = matches(change.object)
    if now:
        return {"type": "MODIFIED" if was else "ADDED", "object": change.object}
    return {"type": "DELETED", "object": change.object} if was else None
