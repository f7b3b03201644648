"""The spawner's side of image locality: traits, the pod's node preference, form notes and
pull progress (the pure parts are :mod:`.image_locality`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from traitlets import Bool, Float
from traitlets.config import Configurable

from ..catalog import Release
from ..i18n import translate
from ..profiles import ImageNote, no_image_note
from ..selection import Selection
from .checks import Cluster, Request, release_fit
from .cluster_state import ClusterState
from .image_locality import locality, preferred_nodes, pull_rate, running_pull

PULL_PROGRESS_SECONDS = 2.0
"""How often the progress page hears of a running pull."""


def _gigabytes(size: int) -> str:
    return f"{size / 1e9:.1f}"


def _duration(seconds: float, locale: str) -> str:
    if seconds < 90:
        return translate(locale, "image.seconds", seconds=f"{max(1, round(seconds))}")
    return translate(locale, "image.minutes", minutes=f"{round(seconds / 60)}")


class ImagePlacement(Configurable):
    """Mixed into :class:`~twcc_spawner.TWCCSpawner` beside the preflight."""

    image_locality_enabled = Bool(
        True,
        config=True,
        help="""
        Prefer, for each server, the GPU nodes that already hold its image and have
        the size's resources free (preferred node affinity, weight 100), so a warm
        node is chosen over a cold one. Read from the hub's node cache: no API call,
        and no effect on what is admitted. The spawn form also says, per release,
        on how many fitting nodes the image is ready, or what the first start
        downloads.
        """,
    )

    image_pull_rate = Float(
        50e6,
        min=1.0,
        config=True,
        help="""
        Bytes per second a node is expected to pull an image at, until the cluster's
        own recent pulls say otherwise (the median of the kubelets' "Successfully
        pulled image" events the hub has seen). Used for the form's and the progress
        page's expected pull times.
        """,
    )

    preferred_image_nodes: tuple[str, ...] = ()

    def cluster_pull_rate(self) -> float:
        """Bytes/s: the cluster's recent pulls, else :attr:`image_pull_rate`."""
        self_: Any = self
        reflector = self_.event_reflector if self_.events_enabled else None
        events = list(reflector.events) if reflector is not None else []
        measured = pull_rate(e.get("message") or "" for e in events if e.get("reason") == "Pulled")
        return measured or self.image_pull_rate

    def choose_image_nodes(self, state: ClusterState, request: Request, terms: Any) -> None:
        """Remember the nodes this spawn's pod should prefer (call once it is admitted)."""
        self.preferred_image_nodes = ()
        if not self.image_locality_enabled:
            return
        self_: Any = self
        ref = request.selection.image_ref(self_.image_registry)
        eligible = state.eligible(request.placement.narrowed(terms))
        self.preferred_image_nodes = preferred_nodes(locality(state, eligible, request.wanted, ref))

    def image_notes(
        self, cluster: Cluster, request_for: Callable[[Selection], Request]
    ) -> ImageNote:
        """The form's note per release, for the smallest size the user may start."""
        self_: Any = self
        sizes = sorted(self_.catalog().sizes_for(self_.user_groups), key=lambda s: s.gpus)
        if not self.image_locality_enabled or not sizes or not cluster.nodes_known:
            return no_image_note
        rate, locale = self.cluster_pull_rate(), self_.locale

        def note(release: Release) -> str | None:
            request = request_for(Selection(release, sizes[0]))
            found, placement = release_fit(cluster, request)
            if not found[-1].ok:
                return None
            eligible = cluster.state.eligible(placement)
            ref = request.selection.image_ref(self_.image_registry)
            where = locality(cluster.state, eligible, request.wanted, ref)
            if not where.fitting:
                return None
            if where.holding:
                return translate(
                    locale, "image.ready", held=len(where.holding), fitting=where.fitting
                )
            if release.image_size is None:
                return translate(locale, "image.cold_unknown")
            return translate(
                locale,
                "image.cold",
                size=_gigabytes(release.image_size),
                time=_duration(release.image_size / rate, locale),
            )

        return note

    async def pull_progress(self) -> AsyncIterator[dict[str, Any]]:
        """While the kubelet pulls the server's image: its size, elapsed and expected time."""
        self_: Any = self
        while self_._start_future is not None and not self_._start_future.done():
            selection = self_.selection  # None until the spawn's options are resolved
            if selection is not None:
                ref = selection.image_ref(self_.image_registry)
                size = None if selection.image else selection.release.image_size
                rate = self.cluster_pull_rate()
                pull = running_pull(self_.events, ref, size, rate, datetime.now(UTC))
                if pull is not None:
                    message = f"Downloading {ref}: {_duration(pull.elapsed, 'en')} so far"
                    if pull.expected is not None and size is not None:
                        message += (
                            f", about {_duration(pull.expected, 'en')} in all for "
                            f"~{_gigabytes(size)} GB"
                        )
                    yield {"progress": 40, "message": message}
            await asyncio.sleep(PULL_PROGRESS_SECONDS)
