"""The :class:`Emulator`: store, API server, scheduler and kubelet wired together."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import shutil
import ssl
import tempfile
import threading
from collections.abc import Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml
from aiohttp import web

from .auth import ADMIN_TOKEN, Authenticator, service_account_user
from .cluster import load_cluster, node_objects
from .deletion import NamespaceController
from .events import expire_events_forever
from .exec_api import StreamApi
from .faults import Faults
from .image_store import PULL_RATE_ANNOTATION, Registry
from .images import SimulatedImages
from .kubelet import Kubelet, KubeletConfig
from .log_api import LogApi
from .manifests import apply_objects, documents
from .rbac import bootstrap_policy
from .scheduler import Scheduler
from .server import ApiServer
from .serviceaccounts import create_default_service_accounts
from .store import Store
from .tls import self_signed
from .twcc_images import twcc_registry

log = logging.getLogger(__name__)

BANNER = "SIMULATED Kubernetes cluster (twcc-spawner emulator): not a real cluster"
CONTEXT = "twcc-emulator"
NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

T = TypeVar("T")


class Emulator:
    """A simulated Kubernetes API server with GPU nodes, serving on ``host:port``.

    ``cluster`` is a cluster description (mapping), a YAML file, or None for the shipped
    TWCC V100 cluster. ``workdir`` holds pod files and PVC data; a temporary directory
    is created (and removed on stop) when it is None. ``images`` maps image references
    to local roots (:mod:`.images`); None gives the TWCC stand-ins (:mod:`.twcc_images`).
    Events are deleted ``event_ttl`` seconds after they are recorded (kube-apiserver's
    ``--event-ttl``, one hour by default).

    ``registry`` is the simulated image registry (:mod:`.image_store`; None: the TWCC
    images of :func:`.twcc_images.twcc_registry`), serving also the cluster's
    ``registry`` (reference → bytes). ``image_pull_rate`` (bytes/s) overrides every
    node's pull rate, and ``backoff`` the kubelet's first back-off in seconds (the
    cluster's ``kubelet.backoff``, else 10; it doubles up to ``kubelet.max_backoff``).

    With ``tls`` it serves HTTPS with a throwaway self-signed certificate (kubectl sends
    bearer tokens over TLS only, so ServiceAccount kubeconfigs need it); its kubeconfigs
    carry the certificate.
    """

    def __init__(
        self,
        cluster: str | Path | Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        workdir: str | Path | None = None,
        history_size: int = 1000,
        images: SimulatedImages | None = None,
        event_ttl: float = 3600.0,
        registry: Registry | None = None,
        image_pull_rate: float | None = None,
        backoff: float | None = None,
        tls: bool = False,
    ) -> None:
        self.cluster = load_cluster(cluster)
        self.host = host
        self.port = port
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="twcc-emulator-"))
        self.history_size = history_size
        self.images = images
        self.event_ttl = event_ttl
        self.registry = (registry or twcc_registry()).with_images(
            self.cluster.get("registry") or {}
        )
        self.image_pull_rate = image_pull_rate
        kubelet = self.cluster.get("kubelet") or {}
        self.kubelet_config = KubeletConfig(
            self.registry,
            float(backoff if backoff is not None else kubelet.get("backoff", 10.0)),
            float(kubelet.get("max_backoff", 300.0)),
        )
        self.tls = tls
        self._ssl: ssl.SSLContext | None = None
        self._ca_pem = b""
        self.faults = Faults()
        self.authenticator = Authenticator()
        self.store: Store
        self.kubelet: Kubelet
        self.server: ApiServer  # its ``requests`` log the calls clients made
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        """The API server URL, e.g. ``http://127.0.0.1:41234``."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def start(self) -> None:
        """Create the cluster objects and start serving."""
        log.warning(BANNER)
        self.store = Store(self.history_size)
        create_default_service_accounts(self.store)
        for name in NAMESPACES:
            self.store.create(
                "namespaces",
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                },
            )
        for node in node_objects(self.cluster, self.registry):
            if self.image_pull_rate:
                node["metadata"]["annotations"][PULL_RATE_ANNOTATION] = str(self.image_pull_rate)
            self.store.create("nodes", node)
        for key, obj in bootstrap_policy():
            self.store.create(key, obj)
        self.kubelet = Kubelet(self.store, self.workdir, self.images, self.kubelet_config)
        self._tasks = [
            asyncio.create_task(Scheduler(self.store).run()),
            asyncio.create_task(self.kubelet.run()),
            asyncio.create_task(expire_events_forever(self.store, self.event_ttl)),
            asyncio.create_task(NamespaceController(self.store).run()),
        ]
        self.server = ApiServer(
            self.store,
            self.faults,
            LogApi(self.kubelet),
            self.authenticator,
            StreamApi(self.kubelet),
        )
        self._runner = web.AppRunner(
            self.server.app(), handle_signals=False, access_log=None, shutdown_timeout=0.1
        )
        await self._runner.setup()
        if self.tls:
            self._ssl, self._ca_pem = self_signed(self.workdir / "tls", self.host)
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.kubelet.api_address = (self.host, self.port)
        log.warning("%s; serving at %s", BANNER, self.url)

    async def stop(self) -> None:
        """Stop serving and kill every pod process."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def service_account_token(self, namespace: str, name: str) -> str:
        """A bearer token for ServiceAccount ``namespace/name`` (created if missing).

        Requests with it are authorized by the stored RBAC objects only.
        """
        account = self.store.find("serviceaccounts", namespace, name)
        if account is None:
            account = self.store.create("serviceaccounts", _service_account(namespace, name))
        user = service_account_user(namespace, name, account["metadata"]["uid"])
        return self.authenticator.issue(user)

    def apply_manifests(
        self, *sources: str | Path, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Create or replace the objects of YAML files (``Path``) or texts in the store.

        ``namespace`` moves namespaced objects (and ServiceAccount subjects) there.
        """
        return apply_objects(self.store, documents(sources), namespace)

    def kubeconfig(self, token: str = ADMIN_TOKEN) -> dict[str, Any]:
        """A kubeconfig for this emulator (context, cluster and user ``twcc-emulator``).

        The default token is the all-powerful admin's; pass one from
        :meth:`service_account_token` to act as a ServiceAccount.
        """
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": self._cluster_entry()}],
            "users": [{"name": CONTEXT, "user": {"token": token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
            "current-context": CONTEXT,
        }

    def _cluster_entry(self) -> dict[str, str]:
        entry = {"server": self.url}
        if self.tls:
            entry["certificate-authority-data"] = base64.b64encode(self._ca_pem).decode()
        return entry

    def write_kubeconfig(self, path: str | Path, token: str = ADMIN_TOKEN) -> Path:
        """Write :meth:`kubeconfig` as YAML to ``path`` and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(token), sort_keys=False))
        return path

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[ThreadedEmulator]:
        """Run an emulator on its own event loop in a background thread (for sync code)."""
        threaded = ThreadedEmulator(cls(**kwargs))
        threaded.start()
        try:
            yield threaded
        finally:
            threaded.stop()


def _service_account(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace},
    }


class ThreadedEmulator:
    """An :class:`Emulator` running in a background thread; :meth:`call` runs coroutines."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="twcc-emulator", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The API server URL."""
        return self.emulator.url

    def write_kubeconfig(self, path: str | Path, token: str = ADMIN_TOKEN) -> Path:
        """See :meth:`Emulator.write_kubeconfig`."""
        return self.emulator.write_kubeconfig(path, token)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the emulator's loop (e.g. to touch ``emulator.store``)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.emulator.start())
        except BaseException as exc:
            self._error = exc
        self._ready.set()
        if self._error is None:
            self.loop.run_forever()
        self.loop.close()

    def start(self) -> None:
        """Start the thread and wait until the server is listening."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Stop the emulator and its thread."""
        self.call(self.emulator.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
