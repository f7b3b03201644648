"""A JupyterHub on the SIMULATED cluster: the one hub configuration of the demo and e2e tests.

:func:`hub_config` turns :class:`HubSettings` into JupyterHub configuration (the
JSON form traitlets loads with ``jupyterhub -f hub_config.json``);
:func:`proxy_command` is the matching ``configurable-http-proxy`` command line.
The proxy runs beside the hub, not under it (as in zero-to-jupyterhub), so a hub
restart leaves the proxy and the running servers alone.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import HUB_TEMPLATES
from ..queue.admin import ROUTE as QUEUE_ROUTE

#: Shown at the top of every hub page.
ANNOUNCEMENT = "Demo on a SIMULATED Kubernetes cluster: no real GPUs"

#: Name of the hub service whose token may act on every user and server (tests).
ADMIN_SERVICE = "twcc-admin"

#: The kubelet stand-in runs servers as whoever runs the hub, root in many containers.
SINGLEUSER_ARGS = ("--ServerApp.allow_root=True",)

#: The spawners a hub on the emulator can run, and their configuration sections:
#: TWCCSpawner, or plain KubeSpawner (the benchmarks' baseline).
SPAWNER_SECTIONS = {"twcc": "TWCCSpawner", "kubespawner.KubeSpawner": "KubeSpawner"}


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class HubSettings:
    """Where a hub on the emulator keeps its state and listens (all on 127.0.0.1)."""

    state_dir: Path
    """Database, cookie secret, kubeconfig, config file and logs."""
    profiles_dir: Path
    """The catalog (``releases.yaml``, ``sizes.yaml``)."""
    password: str
    """The shared login password (any user name); at least 8 characters."""
    proxy_auth_token: str
    """Shared by the hub and the proxy's REST API."""
    port: int = 8000
    """Public port of the proxy: the URL people open."""
    hub_port: int = 8081
    proxy_api_port: int = 8001
    admin_token: str | None = None
    """If set, the token of the :data:`ADMIN_SERVICE` service (for tests and scripts)."""
    cleanup_servers: bool = True
    """Stop the servers when the hub stops (False: they survive a hub restart)."""
    spawner: Mapping[str, Any] = field(default_factory=dict)
    """Extra spawner settings, e.g. ``{"unschedulable_timeout": 1}``."""
    spawner_class: str = "twcc"
    """A key of :data:`SPAWNER_SECTIONS`."""

    @classmethod
    def throwaway(cls, state_dir: Path, profiles_dir: Path, **options: Any) -> HubSettings:
        """A hub for tests and benchmarks: free ports, fresh secrets and an admin token."""
        return cls(
            state_dir=state_dir,
            profiles_dir=profiles_dir,
            password=secrets.token_urlsafe(12),
            proxy_auth_token=secrets.token_hex(32),
            port=free_port(),
            hub_port=free_port(),
            proxy_api_port=free_port(),
            admin_token=secrets.token_hex(32),
            **options,
        )

    @property
    def url(self) -> str:
        """The public URL of the hub."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def proxy_api_url(self) -> str:
        """The proxy's REST API."""
        return f"http://127.0.0.1:{self.proxy_api_port}"

    @property
    def kubeconfig(self) -> Path:
        """Where the emulator's kubeconfig goes."""
        return self.state_dir / "kubeconfig"

    @property
    def config_file(self) -> Path:
        """Where :func:`write_hub_config` writes the hub configuration."""
        return self.state_dir / "hub_config.json"


def hub_config(settings: HubSettings) -> dict[str, Any]:
    """The hub's configuration, as a traitlets config mapping."""
    state = settings.state_dir.resolve()
    spawner = {}
    if settings.spawner_class == "twcc":
        spawner["profiles_dir"] = str(settings.profiles_dir.resolve())
    hub: dict[str, Any] = {
        "ip": "127.0.0.1",
        "port": settings.port,
        "hub_ip": "127.0.0.1",
        "hub_port": settings.hub_port,
        "spawner_class": settings.spawner_class,
        "authenticator_class": "shared-password",
        "allow_named_servers": True,
        "cleanup_servers": settings.cleanup_servers,
        "db_url": f"sqlite:///{state / 'jupyterhub.sqlite'}",
        "cookie_secret_file": str(state / "jupyterhub_cookie_secret"),
        "template_vars": {"announcement": ANNOUNCEMENT},
        "template_paths": [HUB_TEMPLATES],
    }
    if settings.spawner_class == "twcc":
        hub["extra_handlers"] = [[QUEUE_ROUTE, "twcc_spawner.queue.admin.QueueAPIHandler"]]
    if settings.admin_token:
        hub["services"] = [{"name": ADMIN_SERVICE, "api_token": settings.admin_token}]
        hub["load_roles"] = [
            {
                "name": ADMIN_SERVICE,
                "scopes": ["admin:users", "admin:servers", "access:servers", "read:metrics"],
                "services": [ADMIN_SERVICE],
            }
        ]
    return {
        "JupyterHub": hub,
        "ConfigurableHTTPProxy": {
            "should_start": False,
            "api_url": settings.proxy_api_url,
            "auth_token": settings.proxy_auth_token,
        },
        "SharedPasswordAuthenticator": {"user_password": settings.password, "allow_all": True},
        SPAWNER_SECTIONS[settings.spawner_class]: {
            **spawner,
            "args": list(SINGLEUSER_ARGS),
            "start_timeout": 60,
            "http_timeout": 30,
            **settings.spawner,
        },
    }


def write_hub_config(settings: HubSettings) -> Path:
    """Write :func:`hub_config` to :attr:`HubSettings.config_file`, readable by the owner only."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    path = settings.config_file
    path.touch(mode=0o600)
    path.write_text(json.dumps(hub_config(settings), indent=2))
    return path


def hub_environment(settings: HubSettings) -> dict[str, str]:
    """The hub's environment: ours, with ``KUBECONFIG`` pointing at the emulator."""
    return {**os.environ, "KUBECONFIG": str(settings.kubeconfig.resolve())}


def proxy_command(settings: HubSettings, executable: str) -> list[str]:
    """The ``configurable-http-proxy`` command line for ``settings``."""
    return [
        executable,
        "--ip=127.0.0.1",
        f"--port={settings.port}",
        "--api-ip=127.0.0.1",
        f"--api-port={settings.proxy_api_port}",
        f"--error-target=http://127.0.0.1:{settings.hub_port}/hub/error",
        "--log-level=warn",
    ]


def proxy_environment(settings: HubSettings) -> dict[str, str]:
    """The proxy's environment: ours, with the token that guards its REST API."""
    return {**os.environ, "CONFIGPROXY_AUTH_TOKEN": settings.proxy_auth_token}
