"""What a deployment is made of, built in one place: the profiles ConfigMap and idle culling.

``jupyterhub_config.py``, the Helm values' ``hub.extraConfig`` and ``twcc-profiles``
all use these functions, so the hub, the chart and the CLI cannot drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from ..catalog import RELEASES_FILE, SIZES_FILE

PROFILES_CONFIGMAP = "twcc-profiles"
IDLE_CULLER = "jupyterhub-idle-culler"
IDLE_CULLER_SCOPES = ("list:users", "read:users:activity", "read:servers", "delete:servers")


class _ManifestDumper(yaml.SafeDumper):
    """Multi-line strings (the profile files in a ConfigMap) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _represent_str)


def manifest_yaml(manifest: dict[str, Any]) -> str:
    """A manifest as YAML for ``kubectl apply -f``, keys in the order given."""
    return yaml.dump(manifest, Dumper=_ManifestDumper, sort_keys=False, allow_unicode=True)


def profiles_configmap(
    directory: Path | str, name: str = PROFILES_CONFIGMAP, namespace: str | None = None
) -> dict[str, Any]:
    """A ConfigMap holding ``releases.yaml`` and ``sizes.yaml`` verbatim, comments included."""
    directory = Path(directory)
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/name": "twcc-spawner", "app.kubernetes.io/component": name},
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {
            file: (directory / file).read_text(encoding="utf-8")
            for file in (RELEASES_FILE, SIZES_FILE)
        },
    }


def idle_culler_service(
    timeout: int = 3600,
    every: int = 300,
    *,
    max_age: int = 0,
    concurrency: int = 10,
    name: str = IDLE_CULLER,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The hub service running jupyterhub-idle-culler, and the role it needs.

    Servers idle for ``timeout`` seconds are stopped (checked every ``every``
    seconds), so idle GPUs go back to the pool; ``max_age`` stops servers older
    than that even if active (0: never). Add the service to
    ``c.JupyterHub.services`` and the role to ``c.JupyterHub.load_roles``.
    """
    command = [
        sys.executable,
        "-m",
        "jupyterhub_idle_culler",
        f"--timeout={timeout}",
        f"--cull-every={every}",
        f"--concurrency={concurrency}",
    ]
    if max_age:
        command.append(f"--max-age={max_age}")
    service = {"name": name, "command": command}
    role = {
        "name": name,
        "description": "Stop idle GPU servers",
        "scopes": list(IDLE_CULLER_SCOPES),
        "services": [name],
    }
    return service, role
