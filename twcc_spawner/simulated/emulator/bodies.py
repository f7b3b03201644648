"""Request bodies: JSON, YAML (server-side apply) and Kubernetes protobuf."""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from . import protobuf
from .errors import ApiError

_YAML = {"application/yaml", "application/apply-patch+yaml"}


async def read_body(request: web.Request) -> Any:
    """The decoded body of ``request`` (None when empty)."""
    raw = await request.read()
    if not raw:
        return None
    content_type = request.content_type
    if content_type == protobuf.CONTENT_TYPE:
        return protobuf.decode(raw)
    if content_type in _YAML:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ApiError(400, f"error decoding YAML: {exc}") from exc
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"malformed JSON body: {exc}") from exc
