"""How the notebook container starts: the start script, and the server environment it needs.

NGC PyTorch images have no ``jupyterhub-singleuser`` and a Python too old for
JupyterHub 6. With the ``server-env`` strategy an init container copies a
self-contained server environment (its own Python, JupyterHub, JupyterLab) into
an emptyDir, and the start script runs the server from there with a kernel that
is the image's own Python. With ``derived-image`` the image already has
JupyterHub and the script only checks the container and starts it.

:func:`apply_bootstrap` is pure: policy and selection in, pod out. See
``docs/bootstrap.md`` for the design.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

from kubernetes_asyncio.client import (
    V1Container,
    V1EmptyDirVolumeSource,
    V1EnvVar,
    V1ExecAction,
    V1Pod,
    V1Probe,
    V1ResourceRequirements,
    V1Volume,
    V1VolumeMount,
)

from ..podspec import replace_by_name
from ..selection import Selection

INIT_CONTAINER = "twcc-server-env"
VOLUME = "twcc-bootstrap"
#: Where the server-env image keeps the environment the init container copies.
IMAGE_ENV_DIR = "/opt/twcc-server-env"
TERMINATION_LOG = "/dev/termination-log"
# $$ and $(NAME) in a container's command are expanded by the kubelet.
_KUBELET_REFERENCE = re.compile(r"\$(?=\$|\([A-Za-z_][A-Za-z0-9_.-]*\))")


class Strategy(StrEnum):
    """How the Jupyter server gets into the container."""

    SERVER_ENV = "server-env"
    DERIVED_IMAGE = "derived-image"


@dataclass(frozen=True)
class BootstrapPolicy:
    """The operator's start-up settings for one spawn (from the spawner's traits)."""

    strategy: Strategy = Strategy.SERVER_ENV
    server_env_image: str = "twcc-spawner/server-env:latest"
    hub_version: str = "6"
    mount_path: str = "/opt/twcc"
    image_python: str = "/opt/conda/bin/python"
    preflight: bool = True
    cuda_check_timeout: int = 120
    server_args: Sequence[str] = ()
    init_resources: tuple[tuple[str, str], ...] = (("cpu", "1"), ("memory", "512Mi"))


@functools.cache
def start_script() -> str:
    """The POSIX sh start script shipped in this package."""
    return resources.files(__package__).joinpath("start.sh").read_text()


def kubelet_escape(text: str) -> str:
    """``text`` escaped so that the kubelet's ``$(VAR)`` expansion gives it back unchanged."""
    return _KUBELET_REFERENCE.sub("$$", text)


def start_command() -> list[str]:
    """The notebook container's command; the server's arguments follow as ``args``.

    The script travels inline: no ConfigMap to create, own and garbage-collect,
    and the script always matches the hub that built the pod.
    """
    return ["/bin/sh", "-c", kubelet_escape(start_script()), "twcc-start"]


def environment(selection: Selection, policy: BootstrapPolicy) -> dict[str, str]:
    """What the start script reads (besides podspec's ``TWCC_GPUS``, ``TWCC_SHM_SIZE`` ...)."""
    driver = selection.release.driver
    env = {
        "TWCC_SERVER_STRATEGY": str(policy.strategy),
        "TWCC_IMAGE_PYTHON": policy.image_python,
        "TWCC_HUB_VERSION": policy.hub_version,
        "TWCC_PREFLIGHT": "1" if policy.preflight else "0",
        "TWCC_DRIVER_MINIMUM": driver.minimum,
        "TWCC_DRIVER_DATACENTER": " ".join(driver.datacenter),
        "TWCC_CUDA_CHECK_TIMEOUT": str(policy.cuda_check_timeout),
        "TWCC_TERMINATION_LOG": TERMINATION_LOG,
        "TWCC_READY_FILE": ready_file(policy),
    }
    if policy.strategy is Strategy.SERVER_ENV:
        env["TWCC_BOOTSTRAP_DIR"] = policy.mount_path
    return env


def ready_file(policy: BootstrapPolicy) -> str:
    """The marker the start script writes once the checks passed and the server answers."""
    return f"{policy.mount_path}/ready"


def init_container(policy: BootstrapPolicy, main: V1Container) -> V1Container:
    """Copies the server environment out of its image into the shared emptyDir."""
    resources = dict(policy.init_resources)
    return V1Container(
        name=INIT_CONTAINER,
        image=policy.server_env_image,
        image_pull_policy=main.image_pull_policy,
        command=["cp", "-a", f"{IMAGE_ENV_DIR}/.", f"{policy.mount_path}/server-env"],
        volume_mounts=[V1VolumeMount(name=VOLUME, mount_path=policy.mount_path)],
        resources=V1ResourceRequirements(limits=resources, requests=resources),
        security_context=main.security_context,
    )


def apply_bootstrap(pod: V1Pod, selection: Selection, policy: BootstrapPolicy) -> V1Pod:
    """Make the notebook container of ``pod`` start through the start script; returns it."""
    container = pod.spec.containers[0]
    container.command = start_command()
    container.args = list(policy.server_args) or None
    container.termination_message_path = TERMINATION_LOG
    container.termination_message_policy = "FallbackToLogsOnError"
    # Ready only once the start script's checks passed and the server answers (the
    # script then writes the marker; the server starts while the slow checks run), so
    # the spawn waits through the checks and a failed check ends it with its reason;
    # never restart the container, or the reason would hide behind CrashLoopBackOff.
    container.readiness_probe = V1Probe(
        _exec=V1ExecAction(command=["/bin/sh", "-c", 'test -e "$TWCC_READY_FILE"']),
        # the kubelet's shortest period: Ready (and the spawn's end) follows the
        # marker within a second
        period_seconds=1,
        failure_threshold=3,
    )
    pod.spec.restart_policy = "Never"
    env = [V1EnvVar(name=k, value=v) for k, v in environment(selection, policy).items()]
    container.env = replace_by_name(container.env, env)
    # the emptyDir holds the ready marker, and with server-env the server's copy
    volume = V1Volume(name=VOLUME, empty_dir=V1EmptyDirVolumeSource())
    pod.spec.volumes = replace_by_name(pod.spec.volumes, [volume])
    mount = V1VolumeMount(name=VOLUME, mount_path=policy.mount_path)
    container.volume_mounts = replace_by_name(container.volume_mounts, [mount])
    if policy.strategy is Strategy.SERVER_ENV:
        pod.spec.init_containers = replace_by_name(
            pod.spec.init_containers, [init_container(policy, container)]
        )
    return pod
