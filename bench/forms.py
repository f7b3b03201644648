"""Spawn-form rendering: TWCC's form (with availability) against KubeSpawner's static form."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .hub import VARIANTS, ApiServerProcess, make_spawner
from .stats import summary


def _renderer(variant: str, spawner: Any) -> Callable[[], Awaitable[str]]:
    if variant == "twcc":
        return spawner.get_options_form

    async def render() -> str:
        return spawner._render_options_form(spawner.profile_list)

    return render


async def form_render(server: ApiServerProcess, profiles: Path, rounds: int) -> dict[str, Any]:
    """Render time per variant (interleaved; a warm-up render each first) and page size."""
    renderers = {}
    for variant in VARIANTS:
        spawner = make_spawner(variant, server.url, profiles, f"form-{variant}")
        spawner.user_options = {}
        renderers[variant] = _renderer(variant, spawner)
    html = {v: await renderers[v]() for v in VARIANTS}  # warm: caches, catalog, templates
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for i in range(rounds):
        for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
            started = time.perf_counter()
            await renderers[variant]()
            samples[variant].append(time.perf_counter() - started)
    return {v: {"render_s": summary(samples[v]), "html_bytes": len(html[v])} for v in VARIANTS}
