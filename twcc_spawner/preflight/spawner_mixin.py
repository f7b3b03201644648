"""The spawner's side of the preflight: traits, the hub-wide cluster watch, reservations.

:class:`GpuPreflight` is mixed into :class:`~twcc_spawner.TWCCSpawner`. Its
:meth:`~GpuPreflight.preflight` runs the checks of :mod:`.checks` on the hub's
:class:`~.cluster_watch.ClusterWatch` once the selection is resolved, before any
pod or PVC is created; it reports each check on the spawn page, refuses with
the failing check's message, or reserves the GPUs until the pod is bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, ClassVar

from traitlets import Bool, Dict, Float, Integer
from traitlets.config import Configurable

from ..catalog import Release, Size
from ..podspec import resources
from ..profiles import Availability, Queued, always_available
from ..queue.model import Outcome, State, Waiter
from ..queue.text import queue_text
from ..selection import Selection
from .checks import (
    Cluster,
    Request,
    Verdict,
    check_capacity,
    check_quota,
    pod_terms,
    release_fit,
    run_checks,
)
from .cluster_state import Placement, Reservation, usage_of
from .cluster_watch import ClusterWatch
from .gpu_labels import Term, term_from_k8s

#: The label the emulator puts on every simulated node.
SIMULATED_LABEL = "twcc.ai/simulated"

#: The spawn form's reason (an ``avail.*`` message) for each refusing check.
FORM_REASONS = {
    "quota": "quota",
    "driver": "driver",
    "architecture": "arch",
    "capacity": "none_free",
}


class GpuPreflight(Configurable):
    """Preflight checks for a GPU spawner (a mixin for :class:`~twcc_spawner.TWCCSpawner`)."""

    preflight_enabled = Bool(
        True,
        config=True,
        help="""
        Check a spawn against the cluster before creating its pod: access, GPU
        quota, NVIDIA driver, GPU architecture and free capacity (see
        docs/preflight.md). A check whose data the hub cannot read (RBAC, missing
        GPU Feature Discovery labels) is skipped with one log warning.
        """,
    )

    gpu_quota = Integer(
        None,
        allow_none=True,
        config=True,
        help="""
        GPUs one user may hold across all their servers (running and starting);
        ``None`` for no limit. ``gpu_quota_by_group`` overrides it for members of
        those groups.
        """,
    )

    gpu_quota_by_group = Dict(
        value_trait=Integer(),
        config=True,
        help="""
        GPU quota per JupyterHub group, e.g. ``{"lab-a": 16, "students": 2}``.
        A user in several listed groups gets the highest; a user in none gets
        ``gpu_quota``.
        """,
    )

    preflight_sync_timeout = Float(
        5.0,
        config=True,
        help="""
        Seconds a spawn waits, after the hub starts, for the first list of nodes
        and pods. Checks whose data is not there by then are skipped.
        """,
    )

    preflight_retry_seconds = Float(
        60.0,
        config=True,
        help="""
        Seconds between attempts to read nodes or cluster-wide pods again after
        the API server refused (403), so that granting the RBAC rules takes
        effect without a hub restart.
        """,
    )

    preflight_list_page_size = Integer(
        500,
        min=1,
        config=True,
        help="""
        Objects per request when the hub lists all nodes and pods (at start and
        after a watch expires). A large cluster is read in pages, as Kubernetes'
        own controllers do, so the hub never holds the whole list at once.
        """,
    )

    _cluster_watch: ClassVar[ClusterWatch | None] = None
    _preflight_events: list[dict[str, Any]]
    _preflight_changed: asyncio.Event
    _preflight_done: bool = True
    preflight_terms: tuple[Term, ...] = ()

    # --- the hub-wide watch -------------------------------------------------

    def cluster_watch(self) -> ClusterWatch:
        """The hub's one :class:`ClusterWatch` (started on first use, in this event loop)."""
        watch = GpuPreflight._cluster_watch
        if watch is None or watch.loop is not asyncio.get_running_loop():
            self_: Any = self
            watch = ClusterWatch(
                self_.api,
                self_.namespace,
                self_.gpu_resource_name,
                self_.log,
                retry_seconds=self.preflight_retry_seconds,
                page_size=self.preflight_list_page_size,
            )
            watch.start()
            GpuPreflight._cluster_watch = watch
        return watch

    @staticmethod
    async def stop_cluster_watch() -> None:
        """Stop the hub's watch (tests; the hub's exit ends it otherwise)."""
        watch, GpuPreflight._cluster_watch = GpuPreflight._cluster_watch, None
        if watch is not None:
            await watch.stop()

    # --- the request ----------------------------------------------------------

    def user_gpu_quota(self) -> int | None:
        """The user's quota: the highest of their groups', else ``gpu_quota``."""
        self_: Any = self
        quotas = [q for g, q in self.gpu_quota_by_group.items() if g in self_.user_groups]
        return max(quotas) if quotas else self.gpu_quota

    def preflight_request(self, selection: Selection | None = None) -> Request:
        """What ``selection`` (default :attr:`selection`) asks of the cluster, with the pod's
        scheduling rules."""
        self_: Any = self
        selection = selection or self_.selection
        catalog, groups = self_.catalog(), self_.user_groups
        listed = self_._sorted_dict_values  # KubeSpawner's: a list, or a dict's values by key
        placement = Placement.of(
            {**self_.node_selector, **self_.gpu_node_selector},
            [*listed(self_.tolerations), *self_.gpu_tolerations],
            [term_from_k8s(t) for t in listed(self_.node_affinity_required)],
        )
        return Request(
            selection=selection,
            user=self_.user.name,
            server=self_.name or "",
            pod_key=self.pod_key,
            placement=placement,
            wanted=usage_of(resources(selection, self_.pod_policy()), self_.gpu_resource_name),
            releases=catalog.releases_for(groups),
            sizes=catalog.sizes_for(groups),
            quota=self.user_gpu_quota(),
            waiting=self_.queue_waiting(self_.user.name, self.pod_key),
        )

    @property
    def pod_key(self) -> str:
        """``namespace/pod``: the key of this server's pod and reservation."""
        self_: Any = self
        return f"{self_.namespace}/{self_.pod_name}"

    # --- the checks -----------------------------------------------------------

    def _note(self, verdict: Verdict, step: int) -> None:
        self._preflight_events.append({"progress": 2 + step, "message": verdict.message})
        changed, self._preflight_changed = self._preflight_changed, asyncio.Event()
        changed.set()

    def preflight_begin(self) -> None:
        """Forget the previous spawn's checks (call first in ``load_user_options``)."""
        self._preflight_events = []
        self._preflight_changed = asyncio.Event()
        self._preflight_done = False
        self.preflight_terms = ()

    def preflight_end(self) -> None:
        """Mark the checks finished, so :meth:`preflight_progress` ends."""
        self._preflight_done = True
        self._preflight_changed.set()

    async def preflight_cluster(self) -> Cluster:
        """The hub's picture of the cluster, once the shared watch has synced."""
        watch = self.cluster_watch()
        await watch.wait_synced(self.preflight_sync_timeout)
        return Cluster(watch.state, watch.nodes_known, watch.pods_scope)

    async def preflight(self) -> Verdict | None:
        """Run the checks; reserve the GPUs (after a wait in the queue if the cluster is
        busy), or return the failing check's verdict."""
        if not self.preflight_enabled:
            return None
        cluster = await self.preflight_cluster()
        watch = self.cluster_watch()
        request = self.preflight_request()
        verdicts = run_checks(cluster, request)
        for verdict in verdicts:
            if verdict.warn:
                watch.warn_once(verdict.message, verdict.message)
        noted = 0
        self_: Any = self
        if self_.queue_should_wait(verdicts[-1]):
            noted = len(verdicts) - 1
            verdicts, refusal = await self._wait_in_queue(cluster, request, verdicts[:-1])
            if refusal is not None:
                return refusal
        for step, verdict in enumerate(verdicts[noted:], noted):
            self._note(verdict, step)
        last = verdicts[-1]
        if not last.ok:
            return last
        self.preflight_terms = tuple(pod_terms(verdicts))
        self_: Any = self
        self_.choose_image_nodes(watch.state, request, self.preflight_terms)
        if last.node is not None:
            self._reserve(cluster, request, last)
        return None

    def _reserve(self, cluster: Cluster, request: Request, verdict: Verdict) -> None:
        assert verdict.node is not None
        cluster.state.reserve(
            self.pod_key,
            Reservation(verdict.node, request.wanted, request.user, request.server),
        )

    async def _wait_in_queue(
        self, cluster: Cluster, request: Request, passed: list[Verdict]
    ) -> tuple[list[Verdict], Verdict | None]:
        """Wait in the queue; the checks that admitted the spawn, or the refusal that ended it."""
        self_: Any = self
        for step, verdict in enumerate(passed):
            self._note(verdict, step)
        step = len(passed)

        def note(message: str) -> None:
            self._note(Verdict("queue", True, message), step)

        def attempt(held: frozenset[str]) -> tuple[Outcome, list[Verdict]]:
            again = replace(self.preflight_request(request.selection), excluded=held)
            verdicts = run_checks(cluster, again)
            last = verdicts[-1]
            if last.ok:
                if last.node is not None:
                    self._reserve(cluster, again, last)
                return Outcome(State.ADMITTED), verdicts
            if last.queueable:
                placement = again.placement.narrowed(pod_terms(verdicts))
                hold = cluster.state.roomiest(cluster.state.eligible(placement), held)
                return Outcome(State.WAITING, hold), verdicts
            return Outcome(State.REFUSED), verdicts

        size = request.selection.size
        now = self_.hub_queue().clock()
        waiter = Waiter(
            self.pod_key,
            request.user,
            request.server,
            size.name,
            size.gpus,
            now,
            now + self_.queue_max_wait_for(size.name),
        )
        verdicts, refusal = await self_.queue_wait(
            self.pod_key, waiter, attempt, note, self_.locale
        )
        if refusal is not None:
            self._note(refusal, step)
            return [], refusal
        return verdicts, None

    async def form_availability(self) -> Availability:
        """Why each (release, size) cannot start now, for the spawn form (nothing reserved).

        Only what the form can show is checked: quota, driver, architecture and
        capacity. What the hub cannot read is not held against
        a size: the checks at Start are the authority.
        """
        if not self.preflight_enabled:
            return always_available
        cluster = await self.preflight_cluster()
        self_: Any = self
        policy = self_.pod_policy()
        # A cell's checks depend on its size (quota), on what its release needs of a
        # node (driver, architecture) or on the placement that leaves and the size
        # (capacity): each is run once per render, however many cells share it.
        by_size: dict[str, tuple[Request, Verdict]] = {}
        by_needs: dict[tuple[Any, ...], tuple[list[Verdict], Placement, int]] = {}
        placement_ids: dict[Placement, int] = {}
        by_placement: dict[tuple[int, str], Verdict] = {}

        def availability(release: Release, size: Size) -> str | None:
            if size.name not in by_size:
                selection = Selection(release, size)
                wanted = usage_of(resources(selection, policy), self_.gpu_resource_name)
                sized = replace(self.preflight_request(selection), wanted=wanted)
                by_size[size.name] = sized, run_checks(cluster, sized, (check_quota,))[-1]
            request, quota = by_size[size.name]
            needs = (release.driver, release.architectures)
            if needs not in by_needs:
                per_release = replace(request, selection=Selection(release, size))
                found, placement = release_fit(cluster, per_release)
                placement_id = placement_ids.setdefault(placement, len(placement_ids))
                by_needs[needs] = found, placement, placement_id
            found, placement, placement_id = by_needs[needs]
            if (placement_id, size.name) not in by_placement:
                narrowed = replace(request, placement=placement)
                by_placement[placement_id, size.name] = check_capacity(cluster, narrowed)
            verdicts = [quota, *found, by_placement[placement_id, size.name]]
            verdict = next((v for v in verdicts if not v.ok), verdicts[-1])
            if verdict is verdicts[-1] and self_.queue_should_wait(verdict):
                outlook = self_.queue_outlook(size.name, size.gpus)
                return Queued(queue_text(self_.locale, "queue.form", size.gpus, outlook))
            if verdict.ok:
                return None
            if verdict.check == "capacity" and not verdict.queueable:
                return "too_large" if verdict.status_code == 409 else "none_free"
            return FORM_REASONS.get(verdict.check, "unknown")

        return availability

    def cluster_is_simulated(self) -> bool:
        """Whether the hub's cluster is the emulator (its nodes say so), to tell users."""
        watch = GpuPreflight._cluster_watch
        nodes = watch.state.nodes.values() if watch is not None else ()
        return any(node.labels.get(SIMULATED_LABEL) == "true" for node in nodes)

    def release_gpus(self, *_: object) -> None:
        """Drop this server's reservation (its spawn ended or it stopped)."""
        watch = GpuPreflight._cluster_watch
        if watch is not None:
            watch.state.release(self.pod_key)
        self_: Any = self
        self_.gpu_queue_released()

    async def preflight_progress(self) -> AsyncIterator[dict[str, Any]]:
        """The checks' progress events, as they happen, until the checks end."""
        sent = 0
        while True:
            changed = self._preflight_changed if not self._preflight_done else None
            events = getattr(self, "_preflight_events", [])
            for event in events[sent:]:
                yield event
            sent = len(events)
            if changed is None:
                return
            await changed.wait()
