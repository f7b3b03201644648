"""The ``pods/{name}/log`` subresource: a container's output, as the kubelet serves it.

Query parameters: ``container``, ``previous``, ``follow``, ``sinceSeconds``,
``sinceTime``, ``timestamps``, ``tailLines`` and ``limitBytes``. ``follow`` streams
until that run of the container ends or the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from .container_logs import Entry, parse_timestamp, read_entries
from .errors import ApiError
from .store import Obj

if TYPE_CHECKING:
    from .kubelet import Kubelet

_TRUE = {"true", "1", "True"}
_FOLLOW_INTERVAL = 0.1
_WAITING_TEXT = {
    "ErrImagePull": "trying and failing to pull image",
    "ImagePullBackOff": "trying and failing to pull image",
}


def _int(query: dict[str, str] | web.Request, name: str) -> int | None:
    value = query.get(name)  # type: ignore[union-attr]
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise ApiError(400, f"invalid {name} parameter: {value!r}") from exc
    if number < 0 or (number == 0 and name != "tailLines"):
        raise ApiError(400, f"{name} must be a positive integer")
    return number


def _container(pod: Obj, name: str | None) -> str:
    spec, pod_name = pod["spec"], pod["metadata"]["name"]
    containers = [c["name"] for c in spec["containers"]]
    init = [c["name"] for c in spec.get("initContainers", [])]
    if not name:
        if len(containers) == 1:
            return containers[0]
        message = (
            f"a container name must be specified for pod {pod_name}, "
            f"choose one of: [{' '.join(containers)}]"
        )
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        raise ApiError(400, message)
    if name not in containers + init:
        raise ApiError(400, f"container {name} is not valid for pod {pod_name}")
    return name


def _waiting_reason(pod: Obj, name: str) -> str:
    status = pod.get("status", {})
    for entry in (status.get("containerStatuses") or []) + (
        status.get("initContainerStatuses") or []
    ):
        if entry["name"] == name:
            reason = entry.get("state", {}).get("waiting", {}).get("reason", "ContainerCreating")
            return _WAITING_TEXT.get(reason, reason)
    return "ContainerCreating"


class LogApi:
    """Serves container logs from the kubelet's log files."""

    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet

    async def __call__(self, request: web.Request, pod: Obj) -> web.StreamResponse:
        query = request.query
        name = _container(pod, query.get("container"))
        pod_name = pod["metadata"]["name"]
        previous = query.get("previous") in _TRUE
        path = self.kubelet.log_file(pod, name, previous)
        if path is None:
            if previous:
                raise ApiError(
                    400, f'previous terminated container "{name}" in pod "{pod_name}" not found'
                )
            raise ApiError(
                400,
                f'container "{name}" in pod "{pod_name}" is waiting to start: '
                f"{_waiting_reason(pod, name)}",
            )
        tail, limit = _int(query, "tailLines"), _int(query, "limitBytes")
        since = self._since(query)
        stamps = query.get("timestamps") in _TRUE
        entries, offset = read_entries(path)
        entries = [e for e in entries if since is None or parse_timestamp(e.time) >= since]
        if tail is not None:
            entries = entries[len(entries) - tail :] if tail else []
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        budget = limit
        with contextlib.suppress(ConnectionResetError):
            budget = await self._send(response, entries, stamps, budget)
            follow = query.get("follow") in _TRUE and not previous
            while follow and (budget is None or budget > 0):
                open_ = self.kubelet.log_open(pod, path)
                more, offset = read_entries(path, offset)
                budget = await self._send(response, more, stamps, budget)
                if not more and not open_:
                    break
                if not more:
                    await asyncio.sleep(_FOLLOW_INTERVAL)
            await response.write_eof()
        return response

    @staticmethod
    def _since(query: web.Request | dict[str, str]) -> datetime | None:
        seconds = _int(query, "sinceSeconds")  # type: ignore[arg-type]
        if seconds is not None:
            return datetime.now(UTC) - timedelta(seconds=seconds)
        if text := query.get("sinceTime"):  # type: ignore[union-attr]
            try:
                return parse_timestamp(text)
            except ValueError as exc:
                raise ApiError(400, f"invalid sinceTime parameter: {text!r}") from exc
        return None

    @staticmethod
    async def _send(
        response: web.StreamResponse, entries: Iterable[Entry], stamps: bool, budget: int | None
    ) -> int | None:
        """Write ``entries``, at most ``budget`` bytes (None: no limit); the budget left."""
        data = "".join(f"{e.time} {e.text}" if stamps else e.text for e in entries).encode()
        if budget is not None:
            data, budget = data[:budget], budget - len(data[:budget])
        if data:
            await response.write(data)
        return budget
