"""A spawn refusal whose message reaches the researcher on JupyterHub 5.2 through 6.1.

JupyterHub 6.0 added ``jupyterhub.spawner.SpawnException`` (no traceback logged,
its ``reason`` in the spawn metrics, its status in the REST answer); 5.x, the
version of Zero-to-JupyterHub 4.4.0's hub image, lacks it. Both show an
exception's ``jupyterhub_message`` on the spawn page and in the progress stream
(5.x falls back to ``str(e)``), and 6.1 does not set it from the exception's own
message. :class:`SpawnRefusal` subclasses ``SpawnException`` where it exists,
tornado's ``HTTPError`` otherwise, and always sets ``jupyterhub_message``.
"""

from __future__ import annotations

from jupyterhub import spawner as _jupyterhub_spawner
from tornado import web


class _HttpSpawnError(web.HTTPError):
    """JupyterHub 6's ``SpawnException`` interface, for JupyterHub 5.x."""

    # plain attributes, shadowing tornado's read-only ``log_message`` property
    reason = ""
    message = ""
    message_html = ""
    log_message = ""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        log_message: str = "",
        message_html: str = "",
        status_code: int = 400,
    ) -> None:
        super().__init__(status_code, reason=reason)
        self.message = message
        self.log_message = log_message or message
        self.message_html = message_html

    def __str__(self) -> str:
        # as JupyterHub 6's SpawnException prints itself (logs read the same on 5 and 6)
        return f"{self.status_code} {type(self).__name__}(reason={self.reason}): {self.log_message}"


_Base: type[web.HTTPError] = getattr(_jupyterhub_spawner, "SpawnException", _HttpSpawnError)


class SpawnRefusal(_Base):  # type: ignore[valid-type,misc]
    """A spawn refused with ``message`` for the user, ``reason`` for the metrics."""

    def __init__(self, message: str, *, reason: str, status_code: int = 400) -> None:
        super().__init__(message, reason=reason, status_code=status_code)
        self.jupyterhub_message = message
