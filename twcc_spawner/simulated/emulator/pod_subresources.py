"""The subresources served here: ``*/status``, ``pods/log``, ``pods/binding``,
``pods/eviction`` and ``serviceaccounts/token``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from . import writes
from .auth import service_account_user
from .bodies import read_body
from .deletion import start_graceful_deletion
from .errors import ApiError
from .subresources import Target, body_dict, require, subresource

if TYPE_CHECKING:
    from .server import ApiServer


def _success(code: int = 201) -> web.Response:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": code,
    }
    return web.json_response(status, status=code)


@subresource("*", "status")
async def status(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    """GET, PUT or PATCH an object's status; every other field stays as it is."""
    store = server.store
    if request.method == "GET":
        return web.json_response(store.get(target.kind.key, target.namespace, target.name))
    if request.method == "PUT":
        body = await read_body(request)
        current = store.get(target.kind.key, target.namespace, target.name)
        obj = body_dict(body, target.kind.kind)
        return web.json_response(writes.write(store, request, target, current, obj, True))
    require("PATCH", request)
    return web.json_response(await writes.patch(store, request, target, status_only=True))


@subresource("pods", "log")
async def log(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    """A pod's log, from the kubelet (:mod:`.log_api`)."""
    require("GET", request)
    return await server.pod_logs(request, server.store.get("pods", target.namespace, target.name))


@subresource("pods", "binding")
async def binding(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    """Bind a pod to a node: the only way to set ``spec.nodeName`` after creation."""
    require("POST", request)
    body = body_dict(await read_body(request), "Binding")
    node = (body.get("target") or {}).get("name")
    if not node:
        raise ApiError(422, 'Binding "" is invalid: target.name: Required value')
    pod = server.store.get("pods", target.namespace, target.name)
    if pod["spec"].get("nodeName"):
        raise ApiError(
            409,
            f'Operation cannot be fulfilled on pods/binding "{target.name}": pod {target.name} '
            f'is already assigned to node "{pod["spec"]["nodeName"]}"',
            reason="Conflict",
        )
    pod["spec"]["nodeName"] = node
    if not writes.dry_run(request):
        server.store.update("pods", pod)
    return _success()


@subresource("pods", "eviction")
async def eviction(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    """Evict a pod (``kubectl drain``): a graceful deletion (PodDisruptionBudgets are not read)."""
    require("POST", request)
    body = body_dict(await read_body(request), "Eviction")
    options = body.get("deleteOptions") or {}
    pod = server.store.get("pods", target.namespace, target.name)
    if writes.dry_run(request) or "All" in (options.get("dryRun") or []):
        return _success()
    grace = options.get("gracePeriodSeconds")
    if pod["spec"].get("nodeName"):
        start_graceful_deletion(server.store, pod, grace)
    else:
        server.store.delete("pods", target.namespace, target.name)
    return _success()


@subresource("serviceaccounts", "token")
async def token(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    """A TokenRequest: a bearer token authenticating as the ServiceAccount."""
    require("POST", request)
    body = body_dict(await read_body(request) or {}, "TokenRequest")
    account = server.store.get("serviceaccounts", target.namespace, target.name)
    user = service_account_user(target.namespace, target.name, account["metadata"]["uid"])
    seconds = int((body.get("spec") or {}).get("expirationSeconds") or 3600)
    expires = datetime.now(UTC) + timedelta(seconds=seconds)
    body.setdefault("apiVersion", "authentication.k8s.io/v1")
    body.setdefault("kind", "TokenRequest")
    body.setdefault("metadata", {}).update(name=target.name, namespace=target.namespace)
    body.setdefault("spec", {}).setdefault("expirationSeconds", seconds)
    body["status"] = {
        "token": server.authenticator.issue(user),
        "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return web.json_response(body, status=201)
