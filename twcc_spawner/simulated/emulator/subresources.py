"""Subresources registered by name (``pods/log``, ``pods/binding``…), each routed by the server.

A module adds one with :func:`subresource`; the handler gets the :class:`Target` of the
request (its kind, namespace and name) and the server, and answers the HTTP request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import ApiError
from .kinds import Kind

if TYPE_CHECKING:
    from .server import ApiServer


@dataclass(frozen=True)
class Target:
    """The object a request addresses."""

    kind: Kind
    namespace: str
    name: str


Handler = Callable[["ApiServer", web.Request, Target], Awaitable[web.StreamResponse]]
SUBRESOURCES: dict[tuple[str, str], Handler] = {}


def subresource(plural: str, name: str) -> Callable[[Handler], Handler]:
    """Register the handler of ``plural/name`` (``*``: of every kind that lists ``name``)."""

    def register(handler: Handler) -> Handler:
        SUBRESOURCES[plural, name] = handler
        return handler

    return register


def find(kind: Kind, name: str) -> Handler:
    """The handler of a subresource, or 404."""
    handler = SUBRESOURCES.get((kind.plural, name)) or SUBRESOURCES.get(("*", name))
    if handler is None or name not in kind.subresources:
        raise ApiError(404, "the server could not find the requested resource")
    return handler


def require(method: str, request: web.Request) -> None:
    """405 unless the request uses ``method``."""
    if request.method != method:
        raise ApiError(405, "the server does not allow this method on the requested resource")


def body_dict(body: Any, kind: str) -> dict[str, Any]:
    """``body`` as an object, or 400 naming what was expected."""
    if not isinstance(body, dict):
        raise ApiError(400, f"the request body must be a {kind} object")
    return body
