"""Server-side apply (not yet served)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import ApiError
from .store import Obj, Store
from .subresources import Target


def apply(store: Store, request: web.Request, target: Target, body: Any, status_only: bool) -> Obj:
    """Server-side apply."""
    raise ApiError(415, "server-side apply is not served", reason="UnsupportedMediaType")
