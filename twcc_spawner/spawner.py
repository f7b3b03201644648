"""TWCCSpawner: KubeSpawner for NGC PyTorch images on GPU nodes.

The spawner is glue. The catalog (:mod:`.catalog`, reloaded live by
:mod:`.catalog_source`) becomes the spawn form (:mod:`.profiles`); ``user_options``
become a :class:`~.selection.Selection` (:mod:`.selection`), refused with a
clear message before any Kubernetes call if it names anything not offered; and
the selection becomes the pod (:mod:`.podspec`).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import jupyterhub
from kubernetes_asyncio.client import V1Pod
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner
from tornado import web
from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, Enum, Float, Integer, List, Unicode, default
from traitlets.config import LoggingConfigurable

from . import metrics
from .api_retry import ApiRetry
from .bootstrap import BootstrapPolicy, Strategy, apply_bootstrap
from .catalog import Catalog, CatalogError
from .catalog_source import CatalogSource, profiles_directory
from .form import ImageField, render_form
from .i18n import negotiate, translate
from .podspec import GpuPodPolicy, apply_selection, prefer_nodes, require_node_terms
from .preflight.image_locality import PREFERENCE_WEIGHT
from .preflight.image_mixin import ImagePlacement
from .preflight.spawner_mixin import GpuPreflight
from .profiles import (
    Availability,
    ImageNote,
    always_available,
    build_profile_list,
    no_image_note,
)
from .progress import container_running, merge, start_script_steps
from .queue.spawner_mixin import GpuQueueing
from .queue.text import lost_place_text
from .refusal import SpawnRefusal
from .security import (
    CONTAINER_SECURITY_CONTEXT,
    POD_SECURITY_CONTEXT,
    PodSettings,
    pod_security_problems,
    restrict_containers,
    settings_problems,
)
from .selection import Selection, SelectionError, options_from_form, resolve
from .startup import hub_config_dir
from .storage import StoragePolicy, apply_storage
from .watchdog import container_failure, unschedulable_message

T = TypeVar("T")
#: Seconds between TWCC's looks at a starting pod's readiness (a lookup in the reflector).
READY_LOOK_SECONDS = 0.1


def spawn_refusal(message: str, *, reason: str, status_code: int = 400) -> SpawnRefusal:
    """A refusal whose message reaches the spawn page, not only the log (:mod:`.refusal`)."""
    return SpawnRefusal(message, reason=reason, status_code=status_code)


class TWCCSpawner(GpuQueueing, GpuPreflight, ImagePlacement, ApiRetry, KubeSpawner):
    """Start JupyterLab in an NGC PyTorch container with the GPUs a researcher picked."""

    profiles_dir = Unicode(
        "",
        config=True,
        help="""
        Directory holding ``releases.yaml`` and ``sizes.yaml``. Empty (the
        default): the catalog shipped with twcc-spawner (the 15 NGC releases and
        TWCC's sizes). A relative path is taken from the directory of the hub's
        config file (e.g. ``profiles`` beside ``jupyterhub_config.py``).

        The files are re-read when they change, so an edit reaches the next spawn
        form without restarting the hub. An edit that fails validation is logged
        with every problem and the last good catalog stays in use. A directory
        that is missing or never valid stops the hub at start-up, naming it.
        """,
    )

    image_registry = Unicode(
        "nvcr.io/nvidia/pytorch",
        config=True,
        help="""
        Image repository the catalog's tags belong to: ``<image_registry>:<tag>``.

        Point it at a mirror (e.g. ``harbor.example.org/ngc/pytorch``) on clusters
        that cannot reach nvcr.io. A release with its own ``image`` in
        ``releases.yaml`` ignores this.
        """,
    )

    gpu_resource_name = Unicode(
        "nvidia.com/gpu",
        config=True,
        help="""
        Extended resource that NVIDIA's device plugin advertises for whole GPUs.
        The pod's limit of it is the selected size's GPU count.
        """,
    )

    gpu_tolerations = List(
        Dict(),
        default_value=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        config=True,
        help="""
        Tolerations added to every GPU pod, in Kubernetes' camelCase form, so that
        it may run on tainted GPU nodes. Added to KubeSpawner's ``tolerations``.
        """,
    )

    gpu_node_selector = Dict(
        {"nvidia.com/gpu.present": "true"},
        config=True,
        help="""
        Node labels every GPU pod requires, merged into KubeSpawner's
        ``node_selector``. The default is the label NVIDIA's GPU Feature
        Discovery puts on GPU nodes; set ``{}`` where nodes lack it.
        """,
    )

    unschedulable_timeout = Float(
        10.0,
        config=True,
        help="""
        Seconds a pod may stay unschedulable before the spawn is given up with the
        scheduler's reason ("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
        instead of waiting for ``start_timeout``. Raise it on clusters whose
        autoscaler adds GPU nodes on demand.
        """,
    )

    watchdog_interval = Float(
        0.5,
        config=True,
        help="""
        Seconds between looks at the starting pod for a failure that ends the spawn
        early: unschedulable, an image that cannot be pulled, an exited container.
        """,
    )

    # --- how the server starts in the image (see docs/bootstrap.md) ----------

    server_strategy = Enum(
        [str(s) for s in Strategy],
        default_value=str(Strategy.SERVER_ENV),
        config=True,
        help="""
        How the Jupyter server gets into an NGC image, which has no JupyterHub and
        too old a Python for it:

        - ``server-env``: an init container copies a self-contained server
          environment (``server_env_image``) into the pod, the server runs from it,
          and its ``python3`` kernel is the image's own Python (``image_python``).
        - ``derived-image``: the image has ``jupyterhub-singleuser`` of the hub's
          major version on its PATH (images built ``FROM`` NGC's with it added).

        ``server_strategy_overrides`` sets it per release.
        """,
    )

    server_strategy_overrides = Dict(
        key_trait=Unicode(),
        value_trait=Enum([str(s) for s in Strategy]),
        config=True,
        help="""
        ``server_strategy`` per release, e.g. ``{"22.02": "derived-image"}`` for a
        release whose catalog ``image`` is a derived image.
        """,
    )

    server_env_image = Unicode(
        f"twcc-spawner/server-env:{jupyterhub.__version__}",
        config=True,
        help="""
        The server-environment image (built by ``images/server-env/build.sh`` for
        the hub's JupyterHub version; push it to a registry the nodes can reach).
        Its init container copies ``/opt/twcc-server-env`` into the pod. Pulled
        with ``image_pull_policy`` and ``image_pull_secrets``.
        """,
    )

    image_python = Unicode(
        "/opt/conda/bin/python",
        config=True,
        help="""
        The Python of the NGC images: it runs the notebook kernel (``import torch``
        gives the image's PyTorch) and the in-container CUDA check.
        """,
    )

    container_preflight = Bool(
        True,
        config=True,
        help="""
        Before the server starts, check inside the container that it sees the
        allocated GPUs, that the node's driver suits the image, that ``/dev/shm``
        is as large as the size promises and that CUDA works on every GPU. A failed
        check ends the spawn with its reason on the spawn page.
        """,
    )

    cuda_check_timeout = Integer(
        120,
        config=True,
        help="""
        Seconds the in-container CUDA check may take (a tiny tensor operation on
        each GPU). Old images on new GPUs JIT-compile kernels at first use, which
        can take a minute or more.
        """,
    )

    # --- storage -----------------------------------------------------------

    home_mount_path = Unicode(
        "/home/{username}",
        config=True,
        help="""
        Where the user's persistent volume claim (KubeSpawner's ``pvc_name_template``,
        created when ``storage_pvc_ensure``) is mounted; also ``HOME`` and the
        Jupyter root (unless ``notebook_dir`` is set). ``{username}`` is expanded.
        Empty: no persistent home, and ``HOME`` is left to the image.
        """,
    )

    work_volume = Dict(
        {},
        config=True,
        help="""
        A shared work volume, as the source part of a Kubernetes volume in
        camelCase, e.g. ``{"persistentVolumeClaim": {"claimName": "twcc-work"}}``
        or ``{"nfs": {"server": "hfs.example.org", "path": "/work"}}``. Mounted at
        ``work_mount_path`` (TWCC's ``/work/<user>``). Empty: none.
        """,
    )

    work_mount_path = Unicode(
        "/work/{username}",
        config=True,
        help="Where ``work_volume`` is mounted; ``{username}`` is expanded.",
    )

    work_sub_path = Unicode(
        "{username}",
        config=True,
        help="""
        The directory of ``work_volume`` that is mounted (each user sees their own);
        ``{username}`` is expanded. Empty: the whole volume.
        """,
    )

    @default("storage_pvc_ensure")
    def _storage_pvc_ensure_default(self) -> bool:
        return True

    @default("storage_capacity")
    def _storage_capacity_default(self) -> str:
        return "100Gi"

    allowed_images = List(
        Unicode(),
        config=True,
        help="""
        Shell-style patterns of images users may name themselves (the ``image``
        user option and a text field in the form), e.g.
        ``["registry.twcc.ai/lab-a/*"]``. Such an image must be built on the
        release picked with it: that release's driver and GPU checks apply.
        Empty (the default): users can start catalog images only.
        """,
    )

    enforce_pod_security = Bool(
        True,
        config=True,
        help="""
        Refuse to create a user pod that breaks the pod security rules: no
        privileged or privilege-escalating container, all capabilities dropped,
        the runtime's default seccomp profile, no hostPath volume, no host
        network/PID/IPC, no service-account token. TWCCSpawner's defaults of
        ``container_security_context`` and ``pod_security_context`` follow the
        rules; set this False only if an operator setting must break one.
        """,
    )

    trusted_containers = List(
        Unicode(),
        config=True,
        help="""
        Names of containers the operators vouch for: KubeSpawner's
        ``init_containers`` or ``extra_containers`` that may break the pod security
        rules, e.g. ``["block-cloud-metadata"]`` for Zero-to-JupyterHub's
        privileged init container that blocks the cloud metadata server with
        iptables. Their security context is used as configured: no defaults are
        filled in and nothing is refused. Every other operator container gets the
        restricted defaults wherever it sets none, and one that explicitly breaks
        a rule stops the hub at start-up, naming the setting.
        """,
    )

    @default("container_security_context")
    def _container_security_context_default(self) -> dict[str, Any]:
        return dict(CONTAINER_SECURITY_CONTEXT)

    @default("pod_security_context")
    def _pod_security_context_default(self) -> dict[str, Any]:
        return dict(POD_SECURITY_CONTEXT)

    user_options = AnyTrait(
        help="""
        The options of the start request, kept as JupyterHub got them. JupyterHub 5.x
        assigns a REST body as it is, so a body that is not an object (``[1, 2]``)
        reaches the selection and is refused with a 400, not a 500 from the trait.
        """,
    )

    @default("user_options")
    def _user_options_default(self) -> dict[str, Any]:
        return {}

    _catalog_sources: ClassVar[dict[Path, CatalogSource]] = {}

    selection: Selection | None = None
    _operator_start_timeout: float | None = None
    _admitted_at: float | None = None

    # --- catalog -----------------------------------------------------------

    @property
    def profiles_path(self) -> Path:
        """The directory ``profiles_dir`` names (see its help)."""
        return profiles_directory(self.profiles_dir, hub_config_dir())

    @property
    def catalog_source(self) -> CatalogSource:
        """The live catalog of ``profiles_dir``, shared by every spawner of the hub."""
        directory = self.profiles_path
        source = self._catalog_sources.get(directory)
        if source is None:
            source = self._catalog_sources[directory] = CatalogSource(directory, self.log)
        return source

    def catalog(self) -> Catalog:
        """The current catalog; a spawn refusal (503) if the files were never valid."""
        try:
            return self.catalog_source.get()
        except CatalogError as e:
            raise spawn_refusal(
                "The hub's image catalog is broken, so no server can start. "
                "Please tell the hub's operators.",
                reason="catalog",
                status_code=503,
            ) from e

    @property
    def user_groups(self) -> frozenset[str]:
        """Names of the JupyterHub groups the user belongs to."""
        # any user object: KubeSpawner's mock user (``_mock=True``) has no groups
        return frozenset(group.name for group in getattr(self.user, "groups", None) or ())

    def bootstrap_policy(self, selection: Selection) -> BootstrapPolicy:
        """How the server starts for ``selection``, from the traits."""
        strategy = self.server_strategy_overrides.get(
            selection.release.release, self.server_strategy
        )
        return BootstrapPolicy(
            strategy=Strategy(strategy),
            server_env_image=self.server_env_image,
            hub_version=jupyterhub.__version__,
            image_python=self.image_python,
            preflight=self.container_preflight,
            cuda_check_timeout=self.cuda_check_timeout,
            server_args=tuple(self.get_args()),
        )

    def storage_policy(self) -> StoragePolicy:
        """This user's home and work volumes, from the traits."""
        expand = self._expand_user_properties
        return StoragePolicy(
            home_path=expand(self.home_mount_path) if self.home_mount_path else "",
            home_claim=self.pvc_name,
            work_path=expand(self.work_mount_path) if self.work_mount_path else "",
            work_sub_path=expand(self.work_sub_path) if self.work_sub_path else "",
            work_volume=dict(self.work_volume),
        )

    def pod_policy(self) -> GpuPodPolicy:
        """The operator's GPU pod settings, from the traits."""
        return GpuPodPolicy(
            registry=self.image_registry,
            gpu_resource=self.gpu_resource_name,
            tolerations=tuple(self.gpu_tolerations),
            node_selector=dict(self.gpu_node_selector),
        )

    def _resolve(self, catalog: Catalog, options: Any) -> Selection:
        return resolve(catalog, options, self.user_groups, self.allowed_images)

    def resolve_selection(self, options: Any) -> Selection:
        """The selection ``options`` asks for; a 400 refusal with the reason if none."""
        try:
            return self._resolve(self.catalog(), options)
        except SelectionError as e:
            raise spawn_refusal(str(e), reason="invalid_selection") from e

    # --- the form ----------------------------------------------------------

    @default("profile_list")
    def _profile_list_default(self) -> Any:
        return self._catalog_profile_list

    @property
    def locale(self) -> str:
        """The researcher's language, from the request being served (English if none)."""
        handler = getattr(self, "handler", None)
        header = handler.request.headers.get("Accept-Language") if handler else None
        return negotiate(header)

    def translate(self, key: str, **params: object) -> str:
        """A message in the researcher's language (for the hub's page templates)."""
        return translate(self.locale, key, **params)

    @property
    def selection_label(self) -> str | None:
        """``PyTorch 21.11 / 2 GPUs`` for the saved options, or ``None`` if not offered now."""
        try:
            return self._resolve(self.catalog_source.get(), self.user_options).label
        except (CatalogError, SelectionError):
            return None

    def _preselected(self, catalog: Catalog) -> Selection | None:
        try:
            return self._resolve(catalog, self.user_options)
        except SelectionError:
            return None

    def _catalog(self) -> Catalog:
        try:
            return self.catalog_source.get()
        except CatalogError as e:
            raise web.HTTPError(503, "The hub's image catalog is broken.") from e

    def _profiles_and_preselection(
        self, availability: Availability, image_note: ImageNote = no_image_note
    ) -> tuple[list[dict[str, Any]], Selection | None]:
        """The form's profile list and the saved selection it preselects (if still offered)."""
        catalog = self._catalog()
        preselected = self._preselected(catalog)
        profiles = build_profile_list(
            catalog, self.user_groups, preselected, self.locale, availability, image_note
        )
        return profiles, preselected

    def _catalog_profile_list(
        self, spawner: TWCCSpawner, availability: Availability = always_available
    ) -> list[dict[str, Any]]:
        return spawner._profiles_and_preselection(availability)[0]

    @default("options_form")
    def _options_form_default(self) -> Any:
        return self._render_catalog_form

    async def _render_catalog_form(self, spawner: TWCCSpawner) -> str:
        availability = await spawner.form_availability()
        image_note = (
            spawner.image_notes(await spawner.preflight_cluster(), spawner.preflight_request)
            if spawner.preflight_enabled
            else no_image_note
        )
        profile_list, preselected = spawner._profiles_and_preselection(availability, image_note)
        return render_form(
            profile_list,
            spawner.locale,
            spawner.cluster_is_simulated(),
            ImageField(tuple(spawner.allowed_images), preselected and preselected.image),
            lost_place_text(spawner.locale, spawner.queue_lost) if spawner.queue_lost else None,
        )

    @default("options_from_form")
    def _options_from_form_default(self) -> Any:
        return options_from_form

    def options_from_query(self, query_data: dict[str, list[str]]) -> dict[str, Any]:
        """``/hub/spawn?opt-release=...``: JupyterHub 6 strips the ``opt-`` prefix, 5.x
        passes the keys as they are; both reach the same selection."""
        return self.options_from_form({k.removeprefix("opt-"): v for k, v in query_data.items()})

    # --- the spawn ---------------------------------------------------------

    async def load_user_options(self) -> None:
        """Resolve ``user_options`` into :attr:`selection`, or refuse the spawn (400).

        Replaces KubeSpawner's profile overrides: nothing is set on the spawner's
        traits, so a failed spawn leaves nothing behind for the next one.
        """
        self.selection = None
        self.preferred_image_nodes = ()
        self.queue_forget_lost()
        self.preflight_begin()
        try:
            self.selection = self.resolve_selection(self.user_options)
            self.log.info("Spawning %s for %s", self.selection.label, self._log_name)
            refusal = await self.preflight()
        finally:
            self.preflight_end()
        self._admitted_at = time.monotonic()
        if refusal is not None:
            self.log.info("Preflight refused %s: %s", self._log_name, refusal.message)
            raise spawn_refusal(
                refusal.message, reason=refusal.check, status_code=refusal.status_code
            )

    async def get_pod_manifest(self) -> V1Pod:
        """KubeSpawner's pod, made to run :attr:`selection`."""
        pod = await super().get_pod_manifest()
        if self.selection is None:
            self.selection = self.resolve_selection(self.user_options)
        pod = apply_selection(pod, self.selection, self.pod_policy())
        pod = apply_storage(pod, self.storage_policy())
        pod = apply_bootstrap(pod, self.selection, self.bootstrap_policy(self.selection))
        pod = require_node_terms(pod, self.preflight_terms)
        pod = prefer_nodes(pod, self.preferred_image_nodes, PREFERENCE_WEIGHT)
        pod = restrict_containers(pod, self._operator_container_names())
        problems = pod_security_problems(pod, frozenset(self.trusted_containers))
        if self.enforce_pod_security and problems:
            raise spawn_refusal(
                "The hub's pod settings break the pod security rules "
                f"({'; '.join(problems)}), so no server can start. Please tell the operators.",
                reason="pod_security",
                status_code=500,
            )
        return pod

    def _listed(self, setting: Any) -> list[Any]:
        """A KubeSpawner list-or-dict setting as KubeSpawner lists it (a dict by key)."""
        return list(self._sorted_dict_values(setting))

    def _operator_container_names(self) -> set[str]:
        containers = [*self._listed(self.init_containers), *self._listed(self.extra_containers)]
        names = {getattr(c, "name", None) or c.get("name") for c in containers}
        return names - set(self.trusted_containers)

    def pod_settings(self) -> PodSettings:
        """The settings that shape every pod's security, for :func:`settings_problems`."""
        return PodSettings(
            init_containers=tuple(self._listed(self.init_containers)),
            extra_containers=tuple(self._listed(self.extra_containers)),
            container_security_context=self.container_security_context,
            extra_container_config=self.extra_container_config,
            pod_security_context=self.pod_security_context,
            extra_pod_config=self.extra_pod_config,
            volumes=tuple(self._listed(self.volumes)),
            token_mounted=self.automount_service_account_token is True
            or (self.automount_service_account_token is None and self.service_account is not None),
            trusted=frozenset(self.trusted_containers),
        )

    @classmethod
    def startup_problems(cls, config: Any) -> list[str]:
        """What in the hub's ``config`` stops every spawn: the catalog and the pod rules.

        Run once when the hub starts (:func:`~.startup.check_at_hub_start`), on the
        settings as a spawner would see them, without building one (a spawner
        needs a user).
        """
        settings = cls.__new__(cls)
        LoggingConfigurable.__init__(settings, config=copy.deepcopy(config))
        problems = []
        directory = settings.profiles_path
        if not directory.is_dir():
            problems.append(f"profiles_dir: {directory} is not a directory")
        else:
            try:
                settings.catalog_source.get()
            except CatalogError as e:
                problems += [f"profiles_dir: {directory}/{p}" for p in e.problems]
        if settings.enforce_pod_security:
            problems += settings_problems(settings.pod_settings())
        return problems

    def start(self) -> asyncio.Future[Any]:
        """KubeSpawner's start, ended early by :meth:`_watch_start` if the pod cannot start.

        JupyterHub reads ``start_timeout`` once this returns: it is lengthened by the
        queue's longest wait, and :meth:`_watch_start` gives the spawn the operator's
        ``start_timeout`` from its admission on.
        """
        if self._operator_start_timeout is None:
            self._operator_start_timeout = self.start_timeout
        self.start_timeout = self.queue_start_timeout(self._operator_start_timeout)
        self._admitted_at = None
        self._start_future = asyncio.ensure_future(
            metrics.observe_start(
                self._start_or_fail_fast(), lambda: self.selection, time.monotonic
            )
        )
        self._start_future.add_done_callback(self.release_gpus)
        return self._start_future

    async def _start_or_fail_fast(self) -> Any:
        return await self._unless_pod_fails(self._start_until_ready())

    async def _start_until_ready(self) -> Any:
        """KubeSpawner's start, ended at the first look that finds the created pod ready.

        KubeSpawner looks at the starting pod with an exponential back-off, with up to
        5 s between looks, so a pod that is Ready after some seconds is seen seconds
        late. When nothing follows the pod's creation in KubeSpawner's start (no
        internal SSL secret, no service, no ``after_pod_created_hook``), TWCC also looks
        every :data:`READY_LOOK_SECONDS` and returns as KubeSpawner would have.
        """
        self.created_pod_uid = None
        start = asyncio.ensure_future(self._start())
        if self.internal_ssl or self.services_enabled or self.after_pod_created_hook:
            return await start
        ready = asyncio.ensure_future(self._until_created_pod_ready())
        try:
            done, _ = await asyncio.wait({start, ready}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            start.cancel()
            ready.cancel()
            raise
        if start in done:
            ready.cancel()
            return start.result()
        start.cancel()  # it only waits for the pod now
        await asyncio.wait({start})  # its end, without taking its cancellation for ours
        pod = ready.result()
        self.pod_id = pod["metadata"]["uid"]
        return self._get_pod_url(pod)

    async def _until_created_pod_ready(self) -> dict[str, Any]:
        """The reflected pod once it is the one this start created and it is ready."""
        while True:
            pod, uid = self._reflected_pod(), self.created_pod_uid
            if pod and uid and pod["metadata"]["uid"] == uid and self.is_pod_running(pod):
                return pod
            await asyncio.sleep(READY_LOOK_SECONDS)

    async def _unless_pod_fails(self, work: Awaitable[T]) -> T:
        """``work``'s result, or :meth:`_watch_start`'s refusal if the pod fails first."""
        task = asyncio.ensure_future(work)
        watch = asyncio.ensure_future(self._watch_start())
        try:
            await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, watch):
                if not pending.done():
                    pending.cancel()
        if task.done() and not task.cancelled():
            return task.result()
        return watch.result()  # type: ignore[return-value]  # raises the failure

    async def get_url(self) -> str:
        """The server's URL: the pod's address, once the pod runs.

        JupyterHub asks this, when it starts, of each server in its database that
        :meth:`poll` says is running or starting. A spawn still pending when the hub
        stopped has only a placeholder address on record (the pod had none yet), and
        JupyterHub would wait ``http_timeout`` on it, then stop a server that came up
        fine. Waiting here (up to ``start_timeout``, ended early by a pod that is gone
        or will never be ready) lets the restarted hub take the spawn back. A pod that
        does not run leaves the recorded URL, which JupyterHub then gives up on.
        """
        await self._start_watching_pods()
        try:
            pod = await asyncio.wait_for(
                self._unless_pod_fails(self._until_pod_runs()), self.start_timeout
            )
        except (TimeoutError, SpawnRefusal) as e:
            self.log.warning("%s: the pod did not start: %s", self._log_name, e)
            pod = None
        if pod is None:
            return await super().get_url()
        return self._get_pod_url(pod)

    async def _until_pod_runs(self) -> dict[str, Any] | None:
        """The reflected pod once it is running and ready; None if it is gone."""
        while True:
            pod = self._reflected_pod()
            if pod is None or self.is_pod_running(pod):
                return pod
            await asyncio.sleep(self.watchdog_interval)

    def _reflected_pod(self) -> dict[str, Any] | None:
        """This server's pod as KubeSpawner's pod reflector last saw it."""
        reflector = self.pod_reflector
        return reflector.pods.get(self.pod_key) if reflector else None

    async def _watch_start(self) -> None:
        """Raise a spawn refusal once the starting pod shows it will never be ready."""
        unschedulable_since: float | None = None
        while True:
            await asyncio.sleep(self.watchdog_interval)
            admitted, timeout = self._admitted_at, self._operator_start_timeout
            if admitted is not None and timeout and time.monotonic() - admitted > timeout:
                raise TimeoutError(f"the server did not start within {timeout:g} s")
            pod = self._reflected_pod()
            if pod is None:
                continue
            failure = container_failure(pod)
            if failure:
                raise spawn_refusal(failure, reason="container_failed", status_code=500)
            unschedulable = unschedulable_message(pod)
            if unschedulable is None:
                unschedulable_since = None
                continue
            unschedulable_since = unschedulable_since or time.monotonic()
            if time.monotonic() - unschedulable_since >= self.unschedulable_timeout:
                raise spawn_refusal(
                    f"No GPU node can take this server now: {unschedulable}",
                    reason="unschedulable",
                    status_code=503,
                )

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """The selection, the preflight checks, then KubeSpawner's events and the checks
        inside the container as they happen."""
        if self.selection is not None:
            label = self.selection.label  # with the user's image, if they named one
            if self.selection.image is None:
                label += f" ({self.selection.image_ref(self.image_registry)})"
            yield {"progress": 1, "message": f"Starting {label}"}
        async for event in self.preflight_progress():
            yield event
        progress = merge(super().progress(), self._container_progress(), self.pull_progress())
        async for event in progress:
            yield event

    async def _container_progress(self) -> AsyncIterator[dict[str, Any]]:
        """The start script's steps, read from the container's log while the spawn runs."""
        shown = 0
        while self._start_future is not None and not self._start_future.done():
            await asyncio.sleep(1.0)
            if not container_running(self._reflected_pod()):
                continue
            try:
                log = await self.api.read_namespaced_pod_log(self.pod_name, self.namespace)
            except (TimeoutError, ApiException, OSError):
                continue
            steps = start_script_steps(log)
            for step in steps[shown:]:
                yield {"progress": 80, "message": f"In the container: {step}"}
            shown = len(steps)


def _reflected_pods() -> list[dict[str, Any]]:
    """The user server pods KubeSpawner's pod reflectors hold, in every namespace watched."""
    return [
        pod
        for (kind, *_), reflector in list(TWCCSpawner.reflectors.items())
        if kind == "pods"
        for pod in list(reflector.pods.values())
    ]


metrics.count_gpus_held(_reflected_pods)
