"""Creating a server's PVC and pod through API hiccups, without logging the pod.

KubeSpawner 7.1 retries a create only after a timeout or a 409. Any other error
(a 500 or 503 from an overloaded API server, a 429 from its priority-and-fairness
limits, a connection reset by a load balancer) ends the spawn at once, and for
the pod it first logs the whole manifest, whose environment holds the server's
JupyterHub API token. :class:`ApiRetry` (mixed into
:class:`~.spawner.TWCCSpawner`) retries those within
``k8s_api_request_retry_timeout``, waits as long as ``Retry-After`` asks (up to
:attr:`~ApiRetry.retry_after_max`), never logs the manifest, and ends a spawn
the API server refuses for good with a message that says what happened.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from kubernetes_asyncio.client.rest import ApiException
from traitlets import Float
from traitlets.config import Configurable

from .refusal import SpawnRefusal

#: Answers after which the same request may succeed.
TRANSIENT = frozenset({429, 500, 502, 503, 504})


def retry_after(error: ApiException) -> float:
    """The seconds a ``Retry-After`` header asks for (0 if none or not a number)."""
    value = (error.headers or {}).get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0


def create_failure(kind: str, error: ApiException) -> SpawnRefusal:
    """The spawn's end when the API server refuses to create ``kind`` for good."""
    message = (
        f"The cluster refused to create your server's {kind} "
        f"({error.status} {error.reason}). Please try again; if it keeps failing, "
        "tell the hub's operators."
    )
    return SpawnRefusal(message, reason="api_refused", status_code=503)


class ApiRetry(Configurable):
    """Retry transient API errors when creating the PVC and pod (a KubeSpawner mixin)."""

    #: The uid of the pod this spawner last created (None until the API answered).
    created_pod_uid: str | None = None

    _api_failing_since: dict[str, float] | None = None

    retry_after_max = Float(
        10.0,
        config=True,
        help="""
        Longest wait, in seconds, that a ``Retry-After`` header on a 429 or 503
        answer may impose before the create is tried again. All retries together
        stay within ``k8s_api_request_retry_timeout``.
        """,
    )

    async def _transient(self, kind: str, error: Exception) -> bool:
        """Log a transient failure and wait as asked; False if ``error`` is not transient."""
        self_: Any = self
        if isinstance(error, ApiException):
            if error.status not in TRANSIENT:
                return False
            wait = min(retry_after(error), self.retry_after_max)
            failing = getattr(self, "_api_failing_since", None) or {}
            self._api_failing_since = failing
            since = failing.setdefault(kind, time.monotonic())
            if time.monotonic() + wait - since > 0.8 * self_.k8s_api_request_retry_timeout:
                del failing[kind]
                return False  # out of time: end the spawn with a clear message
            self_.log.warning(
                "Creating %s for %s: API answered %s %s; retrying%s",
                kind,
                self_._log_name,
                error.status,
                error.reason,
                f" in {wait:g}s" if wait else "",
            )
            await asyncio.sleep(wait)
            return True
        self_.log.warning("Creating %s for %s: %s; retrying", kind, self_._log_name, error)
        return True

    async def _make_create_pod_request(self, pod: Any, request_timeout: float) -> bool:
        """Create the pod; False (try again) on a timeout, a conflict or a transient error."""
        self_: Any = self
        try:
            self_.log.info("Creating pod %s", pod.metadata.name)
            created = await asyncio.wait_for(
                self_.api.create_namespaced_pod(self_.namespace, pod), request_timeout
            )
            self._api_failing_since = {}
            self.created_pod_uid = created.metadata.uid
            return True
        except TimeoutError:
            return False
        except ApiException as error:
            if error.status == 409:
                self_.log.info("Found existing pod %s, deleting it", pod.metadata.name)
                await self_.stop(True)
                return False
            if await self._transient("pod", error):
                return False
            raise create_failure("pod", error) from None
        except (aiohttp.ClientError, ConnectionError) as error:
            return not await self._transient("pod", error)

    async def _make_create_pvc_request(self, pvc: Any, request_timeout: float) -> bool:
        """KubeSpawner's PVC create; False (try again) on a transient error too."""
        try:
            return await super()._make_create_pvc_request(pvc, request_timeout)  # type: ignore[misc]
        except ApiException as error:
            if await self._transient("volume claim", error):
                return False
            raise create_failure("volume claim", error) from None
        except (aiohttp.ClientError, ConnectionError) as error:
            return not await self._transient("volume claim", error)
