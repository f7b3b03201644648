"""The hub's start-up: where its config file is, and one check of the spawner's settings.

JupyterHub has no start-up hook for a spawner class: it builds a spawner per user,
when that user first needs one, so a setting that breaks every spawn would only
show as a failure of each spawn. What a hub does do, while it loads its
configuration, is look up the spawner class it is given (``"twcc"``, or
``"twcc_spawner.TWCCSpawner"``), which asks the ``twcc_spawner`` package for it
(:func:`twcc_spawner.__getattr__`). That lookup calls :func:`check_at_hub_start`,
which has the hub, right after its configuration is loaded and before it serves
anyone, ask its spawner class what in that configuration cannot work: a hub
with problems logs every one of them and exits.
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from pathlib import Path
from typing import Any, Protocol


class ChecksConfig(Protocol):
    """A spawner class that can tell what in a hub's configuration breaks every spawn."""

    @classmethod
    def startup_problems(cls, config: Any) -> list[str]: ...


_checked: weakref.WeakSet[Any] = weakref.WeakSet()


def _running_hub() -> Any:
    """The JupyterHub application of this process, if this process is a hub."""
    app = sys.modules.get("jupyterhub.app")
    if app is None or not app.JupyterHub.initialized():
        return None
    return app.JupyterHub.instance()


def hub_config_dir() -> Path:
    """The directory of the running hub's config file; the working directory elsewhere."""
    hub = _running_hub()
    return Path(hub.config_file).resolve().parent if hub is not None else Path.cwd()


def check_at_hub_start(spawner_class: type[ChecksConfig]) -> None:
    """If this process is a hub loading its configuration, have it check that
    configuration once loaded, if its ``spawner_class`` is ``spawner_class`` or a
    subclass: ``startup_problems`` of that class, every one logged, then exit."""
    hub = _running_hub()
    if hub is None or hub in _checked:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not a hub starting up (JupyterHub initializes in its loop)
        return
    _checked.add(hub)
    # The configuration is loaded synchronously; the loop runs this right after.
    loop.call_soon(_check, hub, spawner_class)


def _check(hub: Any, base: type[ChecksConfig]) -> None:
    chosen = hub.spawner_class
    if not (isinstance(chosen, type) and issubclass(chosen, base)):
        return
    problems = chosen.startup_problems(hub.config)
    if problems:
        hub.log.critical(
            "%s cannot start any server with this configuration; fix these settings:\n  %s",
            chosen.__name__,
            "\n  ".join(problems),
        )
        hub.exit(1)
