"""The aiohttp application: routes REST requests for every kind in :mod:`.kinds` to the store.

Subresources are routed by name through :mod:`.subresources`; watches live in :mod:`.watch`,
Table output in :mod:`.tables`, the write pipeline in :mod:`.writes`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from aiohttp import web

from . import discovery, openapi, subresources, tables, writes
from . import pod_streams as _pod_streams  # noqa: F401  (pods/exec, attach, portforward)
from . import pod_subresources as _pod_subresources  # noqa: F401  (registers pods/*)
from .auth import USER, Authenticator, forbidden
from .bodies import read_body
from .errors import ApiError
from .exec_api import StreamApi
from .faults import Faults
from .kinds import Kind, lookup
from .rbac import Attributes, authorize
from .reviews import review
from .selectors import Predicate, field_selector, label_selector
from .store import Obj, Store
from .subresources import Target
from .validation import KUBERNETES_VERSION
from .watch import serve_watch

#: Answers a pod's ``log`` subresource request (see :mod:`.log_api`).
PodLogs = Callable[[web.Request, Obj], Awaitable[web.StreamResponse]]

_TRUE = {"true", "1", "True"}
_REQUEST_LOG_SIZE = 10_000
_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_HEALTH = ("/healthz", "/readyz", "/livez")


class LoggedRequest(NamedTuple):
    """A request as it arrived: ``time.monotonic()``, method, and path with query."""

    at: float
    method: str
    path: str


class ApiServer:
    """Routes REST requests to the store.

    :attr:`requests` logs the latest requests as they arrive (oldest dropped
    first), so tests and benchmarks can count the calls a client makes.
    """

    def __init__(
        self,
        store: Store,
        faults: Faults,
        pod_logs: PodLogs,
        authenticator: Authenticator | None = None,
        pod_streams: StreamApi | None = None,
    ) -> None:
        self.store = store
        self.faults = faults
        self.pod_logs = pod_logs
        self.pod_streams = pod_streams  # pods/exec and pods/attach (:mod:`.exec_api`)
        self.authenticator = authenticator or Authenticator()
        self.requests: deque[LoggedRequest] = deque(maxlen=_REQUEST_LOG_SIZE)

    def app(self) -> web.Application:
        """Build the aiohttp application."""
        app = web.Application(middlewares=[self._middleware])
        for path, handler in (
            ("/version", self._version),
            ("/api", self._api_versions),
            ("/apis", self._api_groups),
            ("/api/v1", self._core_resources),
            ("/apis/{group}", self._api_group),
            ("/apis/{group}/{version}", self._group_resources),
            ("/openapi/v2", self._openapi_v2),
            ("/openapi/v3", self._openapi_v3_index),
            ("/openapi/v3/{path:.+}", self._openapi_v3),
            *((path, self._health) for path in _HEALTH),
            *((path + "/{check:.+}", self._health) for path in _HEALTH),
        ):
            app.router.add_get(path, handler)
            if not path.endswith("}"):
                app.router.add_get(path + "/", handler)
        app.router.add_route("*", "/api/v1/{tail:.+}", self._core)
        app.router.add_route("*", "/apis/{group}/{version}/{tail:.+}", self._grouped)
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
            request[USER] = self.authenticator.authenticate(request.headers)
            response = await handler(request)
            for warning in request.get(writes.WARNINGS, []):
                response.headers.add("Warning", f"299 - {json.dumps(warning)}")
            return response
        except ApiError as error:
            return web.json_response(error.status(), status=error.code)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok", content_type="text/plain")

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
        return web.json_response(discovery.api_versions(request.host))

    async def _api_groups(self, request: web.Request) -> web.Response:
        return web.json_response(discovery.api_groups())

    async def _core_resources(self, request: web.Request) -> web.Response:
        return web.json_response(discovery.resource_list("", "v1"))

    async def _api_group(self, request: web.Request) -> web.Response:
        return web.json_response(_found(discovery.api_group(request.match_info["group"])))

    async def _group_resources(self, request: web.Request) -> web.Response:
        info = request.match_info
        return web.json_response(_found(discovery.resource_list(info["group"], info["version"])))

    async def _openapi_v2(self, request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "")
        if "protobuf" in accept and "application/json" not in accept:
            raise ApiError(406, "only application/json is served for /openapi/v2")
        return web.Response(body=openapi.v2_bytes(), content_type="application/json")

    async def _openapi_v3_index(self, request: web.Request) -> web.Response:
        return web.json_response(openapi.v3_index())

    async def _openapi_v3(self, request: web.Request) -> web.Response:
        document = _found(openapi.v3_bytes(request.match_info["path"]))
        return web.Response(body=document, content_type="application/json")

    async def _core(self, request: web.Request) -> web.StreamResponse:
        return await self._route(request, "", "v1", request.match_info["tail"])

    async def _grouped(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        return await self._route(request, info["group"], info["version"], info["tail"])

    async def _route(
        self, request: web.Request, group: str, version: str, tail: str
    ) -> web.StreamResponse:
        parts = tail.strip("/").split("/")
        namespace: str | None = None
        namespaced_path = parts[0] == "namespaces" and len(parts) >= 3
        if namespaced_path and (group or parts[2] not in _NAMESPACE_SUBRESOURCES):
            namespace, parts = parts[1], parts[2:]
        plural, name, sub = [*parts, None, None][:3]
        kind = lookup(group, version, plural or "")
        if (
            kind is None
            or len(parts) > 3
            or (namespace is not None and not kind.namespaced)
            or (namespace is None and kind.namespaced and name is not None)
        ):
            raise ApiError(404, "the server could not find the requested resource")
        self._authorize(request, kind, namespace, name, sub)
        if sub is not None and name is not None:
            target = Target(kind, namespace or "", name)
            return await subresources.find(kind, sub)(self, request, target)
        if name is None:
            return await self._collection(request, kind, namespace)
        return await self._object(request, Target(kind, namespace or "", name))

    def _authorize(
        self,
        request: web.Request,
        kind: Kind,
        namespace: str | None,
        name: str | None,
        sub: str | None,
    ) -> None:
        user = request[USER]
        attributes = Attributes(
            verb=_verb(request, name),
            group=kind.group,
            resource=kind.plural,
            subresource=sub or "",
            namespace=namespace or (name if kind.plural == "namespaces" else "") or "",
            name=name or "",
        )
        if not authorize(self.store, user, attributes):
            raise forbidden(user, attributes)

    async def _collection(
        self, request: web.Request, kind: Kind, namespace: str | None
    ) -> web.StreamResponse:
        method = request.method
        if method == "GET" and "list" in kind.verbs:
            return await self._list_or_watch(request, kind, namespace)
        if method == "POST" and kind.namespaced == (namespace is not None):
            body = await read_body(request)
            if "list" not in kind.verbs:
                return _json(review(self, request[USER], kind, body), 201)
            created = writes.create(self.store, request, kind, namespace or "", body)
            return _json(created, 201)
        if method == "DELETE" and "deletecollection" in kind.verbs:
            matches = self._predicate(kind, namespace, request.query)
            deleted = [
                writes.delete(
                    self.store,
                    request,
                    Target(kind, o["metadata"].get("namespace", ""), o["metadata"]["name"]),
                    None,
                )
                for o in list(self.store.items(kind.key, namespace))
                if matches(o)
            ]
            return _json(_list(kind, deleted, str(self.store.resource_version)))
        raise ApiError(405, "the server does not allow this method on the requested resource")

    async def _object(self, request: web.Request, target: Target) -> web.StreamResponse:
        method = request.method
        if method == "GET":
            obj = self.store.get(target.kind.key, target.namespace, target.name)
            if tables.wanted(request):
                return _json(tables.table(target.kind, [obj], request.query))
            return _json(obj)
        if method == "PATCH":
            return _json(await writes.patch(self.store, request, target, status_only=False))
        if method == "PUT":
            body = await read_body(request)
            return _json(writes.replace(self.store, request, target, body, status_only=False))
        if method == "DELETE":
            body = await read_body(request)
            return _json(writes.delete(self.store, request, target, body))
        raise ApiError(405, "the server does not allow this method on the requested resource")

    def _predicate(self, kind: Kind, namespace: str | None, query: Mapping[str, str]) -> Predicate:
        labels = label_selector(query.get("labelSelector"))
        fields = field_selector(kind.plural, query.get("fieldSelector"))

        def matches(obj: Mapping[str, Any]) -> bool:
            in_ns = namespace is None or obj["metadata"].get("namespace") == namespace
            return in_ns and labels(obj) and fields(obj)

        return matches

    async def _list_or_watch(
        self, request: web.Request, kind: Kind, namespace: str | None
    ) -> web.StreamResponse:
        query = request.query
        matches = self._predicate(kind, namespace, query)
        if query.get("watch") in _TRUE:
            return await serve_watch(self.store, request, kind, matches)
        limit = _int_param(query, "limit")
        resource_version, after = _continuation(query.get("continue"))
        matching = (obj for obj in self.store.items(kind.key, namespace, after) if matches(obj))
        items = list(itertools.islice(matching, limit or None))
        listed = _list(kind, items, resource_version or str(self.store.resource_version))
        if limit and items and next(matching, None) is not None:
            listed["metadata"]["continue"] = _continue_token(
                listed["metadata"]["resourceVersion"], items[-1]
            )
        if tables.wanted(request):
            return _json(tables.table(kind, items, query, listed["metadata"]))
        return _json(listed)


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status)


def _found(document: Any) -> Any:
    if document is None:
        raise ApiError(404, "the server could not find the requested resource")
    return document


def _list(kind: Kind, items: list[Obj], resource_version: str) -> dict[str, Any]:
    return {
        "kind": f"{kind.kind}List",
        "apiVersion": kind.api_version,
        "metadata": {"resourceVersion": resource_version},
        "items": items,
    }


def _verb(request: web.Request, name: str | None) -> str:
    method = request.method
    if method == "GET":
        if request.query.get("watch") in _TRUE:
            return "watch"
        return "get" if name is not None else "list"
    if method == "DELETE" and name is None:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


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
