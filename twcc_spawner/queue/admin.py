"""Who waits for what: ``GET /hub/api/twcc/queue`` for admins (scope ``admin:servers``).

The queue lives in the hub's process, so the endpoint is a hub API handler:

.. code-block:: python

    c.JupyterHub.extra_handlers = [("/api/twcc/queue", "twcc_spawner.queue.admin.QueueAPIHandler")]

(JupyterHub logs that ``extra_handlers`` is deprecated in favour of services; a
service runs in another process and could not read the queue.)
"""

from __future__ import annotations

import json

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import needs_scope

from .spawner_mixin import GpuQueueing

#: The route, relative to the hub's prefix, for ``c.JupyterHub.extra_handlers``.
ROUTE = "/api/twcc/queue"


class QueueAPIHandler(APIHandler):
    """The waiting spawns, oldest first, with their place, wait and estimate."""

    @needs_scope("admin:servers")
    def get(self) -> None:
        queue = GpuQueueing._hub_queue
        waiting = queue.snapshot() if queue is not None else []
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"waiting": waiting}))
