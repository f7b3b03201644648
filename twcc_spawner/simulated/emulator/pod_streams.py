"""The streaming subresources ``pods/exec``, ``attach`` and ``portforward``, checked as
kube-apiserver checks them.

Before a request reaches the kubelet (:mod:`.exec_api`), the API server authorizes it,
finds the pod, picks or checks the container (not for a port-forward), and needs the pod
bound to a node.
A WebSocket upgrade is a GET, authorized as ``get``; since Kubernetes 1.35 the pod
registry also requires ``create`` on the subresource (the default-on
``AuthorizePodWebsocketUpgradeCreatePermission`` gate), worded as its compound check
words a denial. SPDY (a POST, authorized as ``create``) is what kubectl falls back to
when the WebSocket upgrade is refused; the emulator does not serve it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from . import port_forward
from .auth import USER
from .errors import ApiError
from .exec_api import StreamApi
from .rbac import Attributes, authorize
from .store import Obj
from .subresources import Target, subresource

if TYPE_CHECKING:
    from .server import ApiServer


def _container_name(pod: Obj, name: str) -> str:
    """The container a request names (the only one, if it names none), or 400."""
    spec, pod_name = pod["spec"], pod["metadata"]["name"]
    every = [c["name"] for key in ("initContainers", "containers") for c in spec.get(key) or []]
    if not name:
        if len(spec["containers"]) == 1:
            return spec["containers"][0]["name"]
        raise ApiError(
            400,
            f"a container name must be specified for pod {pod_name}, "
            f"choose one of: [{' '.join(every)}]",
        )
    if name not in every:
        raise ApiError(400, f"container {name} is not valid for pod {pod_name}")
    return name


def _checked(server: ApiServer, request: web.Request, target: Target, sub: str) -> tuple[Obj, str]:
    """The pod and container (none for a port-forward) a streaming request addresses, once
    the API server's checks pass."""
    if request.method not in {"GET", "POST"}:
        raise ApiError(405, "the server does not allow this method on the requested resource")
    if request.method == "GET":
        attributes = Attributes("create", "", "pods", sub, target.namespace, target.name)
        if not authorize(server.store, request[USER], attributes):
            # NewForbidden with the authorizer's reason, which RBAC leaves empty
            raise ApiError(
                403,
                f'pods "{target.name}" is forbidden: ',
                details={"name": target.name, "group": "", "kind": "pods"},
            )
    pod = server.store.get("pods", target.namespace, target.name)
    container = ""
    if sub != "portforward":
        container = _container_name(pod, request.query.get("container", ""))
    if not pod["spec"].get("nodeName"):
        raise ApiError(400, f"pod {target.name} does not have a host assigned")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(
            400,
            f"SIMULATED: the emulator serves pods/{sub} over WebSocket only, which "
            'kube-apiserver authorizes as both "get" and "create"; not over SPDY',
        )
    return pod, container


def _streams(server: ApiServer) -> StreamApi:
    if server.pod_streams is None:  # an API server without a kubelet
        raise ApiError(404, "the server could not find the requested resource")
    return server.pod_streams


@subresource("pods", "exec")
async def exec_(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    """Run a command in a container (``kubectl exec``, ``kubectl cp``)."""
    pod, container = _checked(server, request, target, "exec")
    command = request.query.getall("command", [])
    if not command:
        raise ApiError(400, 'SIMULATED: no command given (the "command" query parameter)')
    return await _streams(server).exec(request, pod, container, command)


@subresource("pods", "attach")
async def attach(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    """Stream a running container's output (``kubectl attach``)."""
    pod, container = _checked(server, request, target, "attach")
    return await _streams(server).attach(request, pod, container)


@subresource("pods", "portforward")
async def portforward(
    server: ApiServer, request: web.Request, target: Target
) -> web.StreamResponse:
    """Forward local connections to the pod's ports (``kubectl port-forward``)."""
    pod, _ = _checked(server, request, target, "portforward")
    ip = pod.get("status", {}).get("podIP")
    if not ip or not _streams(server).kubelet.knows(pod):
        raise ApiError(500, "unable to upgrade connection: pod does not exist")
    return await port_forward.serve(request, ip, pod["metadata"]["name"], pod["metadata"]["uid"])
