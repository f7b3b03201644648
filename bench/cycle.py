"""One spawn/stop cycle through a running hub's REST API (the soak, the time to a usable server)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

POLL_SECONDS = 0.05


class CycleFailed(RuntimeError):
    """The spawn was refused, failed, or did not become ready or stop in time."""


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it is truthy; :class:`CycleFailed` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise CycleFailed(f"{what}: not within {timeout:g} s")
        time.sleep(POLL_SECONDS)


def spawn_and_stop(
    session: requests.Session,
    url: str,
    user: str,
    options: dict[str, Any],
    through_proxy: bool = False,
    timeout: float = 120.0,
) -> float:
    """Start ``user``'s default server, wait until it is ready, stop it; returns the seconds
    from the request to ready (with ``through_proxy``: to its ``api/status`` answering
    through the proxy)."""
    api = f"{url}/hub/api/users/{user}"
    started = time.monotonic()
    response = session.post(f"{api}/server", json={"user_options": options}, timeout=60)
    if response.status_code not in (201, 202):
        raise CycleFailed(f"{user} start: {response.status_code} {response.text[:200]}")

    def ready() -> bool:
        model = session.get(api, timeout=30).json()["servers"].get("")
        if model is None:
            raise CycleFailed(f"{user}: the spawn failed")
        if not model["ready"] or not through_proxy:
            return bool(model["ready"])
        status = session.get(f"{url}/user/{user}/api/status", timeout=30, allow_redirects=False)
        return status.status_code == 200

    wait(ready, timeout, f"{user} ready")
    elapsed = time.monotonic() - started
    session.delete(f"{api}/server", timeout=60)
    wait(lambda: session.get(api, timeout=30).json()["servers"] == {}, 60, f"{user} stopped")
    return elapsed
