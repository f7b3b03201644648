"""managedFields: which field manager set which fields (filled in by :mod:`.apply`)."""

from __future__ import annotations

from aiohttp import web

from .store import Obj


def record(request: web.Request, new: Obj, old: Obj | None, operation: str) -> None:
    """Record the fields ``request``'s manager set in ``new`` (not yet tracked)."""
