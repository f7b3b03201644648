"""Checks of the hub's configuration that refuse to start a hub set up unsafely.

Called at the end of a JupyterHub config file (``jupyterhub_config.py``, the
Helm values' ``hub.extraConfig``): JupyterHub stops on an error in its config
file, so the operator sees the reason once, at start-up, instead of every
researcher meeting the consequences.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from jupyterhub.auth import DummyAuthenticator
from traitlets.config import Config
from traitlets.utils.importstring import import_item

AUTHENTICATORS = "jupyterhub.authenticators"


class UnsafeHubConfig(RuntimeError):
    """The hub's configuration must change before the hub may start."""


def authenticator_class(value: Any) -> type | None:
    """The class a ``JupyterHub.authenticator_class`` setting names (entry point, import
    string or class); None if it is unset or names nothing importable."""
    if isinstance(value, type):
        return value
    if not isinstance(value, str) or not value:
        return None
    for point in entry_points(group=AUTHENTICATORS, name=value.lower()):
        loaded: type = point.load()
        return loaded
    try:
        imported: type = import_item(value)
    except (ImportError, ValueError):
        return None
    return imported


def refuse_dummy_authenticator(c: Config) -> None:
    """Raise :class:`UnsafeHubConfig` if the hub would log in anyone with any password.

    The Zero-to-JupyterHub chart's default is DummyAuthenticator: whoever reaches
    the hub's address would get GPUs, and no groups reach JupyterHub.
    """
    setting = c.JupyterHub.get("authenticator_class")
    chosen = authenticator_class(setting)
    if chosen is not None and issubclass(chosen, DummyAuthenticator):
        raise UnsafeHubConfig(
            f"JupyterHub.authenticator_class is {setting!r} ({chosen.__name__}): anyone who "
            "reaches the hub would log in with any password and get GPUs. Configure a real "
            "authenticator (Helm: hub.config.JupyterHub.authenticator_class, e.g. "
            "generic-oauth for single sign-on; see docs/operators.md)."
        )
