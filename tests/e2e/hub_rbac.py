"""The hub's credentials in the e2e tests: a ServiceAccount token held to shipped RBAC only.

:data:`HUB_RBAC` lists the manifests that bind the hub's ServiceAccount ``hub``: the
project's ``deploy/kubernetes/rbac.yaml`` and the Zero-to-JupyterHub chart's own hub
Role (its template, rendered for the test namespace). A permission the spawner needs
and these do not grant fails the test that needs it. Point :data:`HUB_RBAC` elsewhere
when the shipped manifests move.
"""

from __future__ import annotations

import re
from pathlib import Path

from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator

ROOT = Path(__file__).parents[2]
CHART_HUB_RBAC = ROOT.parent / "shared" / "z2jh" / "jupyterhub" / "templates" / "hub" / "rbac.yaml"
HUB_RBAC: tuple[Path, ...] = (ROOT / "deploy" / "kubernetes" / "rbac.yaml", CHART_HUB_RBAC)
SERVICE_ACCOUNT = "hub"


def render_chart_template(path: Path, namespace: str) -> str:
    """The chart's hub RBAC template with its names filled in as the chart fills them
    (``hub`` for the hub and its ServiceAccount), labels and conditionals dropped."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: put the official z2jh chart 4.4.0 in ../shared/z2jh (see GUIDE)"
        )
    lines = []
    for line in path.read_text().splitlines():
        if not line.strip().startswith(("{{-", "labels:")):
            lines.append(line)
    text = "\n".join(lines)
    text = re.sub(
        r'\{\{ include "jupyterhub\.hub(-serviceaccount)?\.fullname" \. \}\}', "hub", text
    )
    return text.replace("{{ .Release.Namespace }}", namespace)


def hub_token(emulator: ThreadedEmulator, namespace: str = "default") -> str:
    """Apply :data:`HUB_RBAC` in ``namespace`` and return a token of ServiceAccount ``hub``."""
    sources: list[str | Path] = [
        render_chart_template(p, namespace) if p == CHART_HUB_RBAC else p for p in HUB_RBAC
    ]

    async def apply() -> str:
        emulator.emulator.apply_manifests(*sources, namespace=namespace)
        return emulator.emulator.service_account_token(namespace, SERVICE_ACCOUNT)

    return emulator.call(apply())
