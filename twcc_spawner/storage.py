"""Where a researcher's files live: a persistent home and an optional shared work volume.

Like TWCC, the home is ``/home/<user>`` (KubeSpawner's per-user PVC) and the
shared file system is ``/work/<user>``. ``HOME`` and the Jupyter root are the
home; the image's ``/workspace`` is left as the image has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import V1EnvVar, V1Pod, V1Volume, V1VolumeMount
from kubespawner.utils import get_k8s_model

from .podspec import replace_by_name

HOME_VOLUME = "twcc-home"
WORK_VOLUME = "twcc-work"


@dataclass(frozen=True)
class StoragePolicy:
    """One user's storage (the spawner's traits, with ``{username}`` expanded)."""

    home_path: str = ""
    home_claim: str = ""
    work_path: str = ""
    work_sub_path: str = ""
    work_volume: Mapping[str, Any] = field(default_factory=dict)


def apply_storage(pod: V1Pod, policy: StoragePolicy) -> V1Pod:
    """Mount the home and work volumes into the notebook container of ``pod``; returns it."""
    container = pod.spec.containers[0]
    volumes: list[V1Volume] = []
    mounts: list[V1VolumeMount] = []
    if policy.home_path and policy.home_claim:
        volumes.append(
            get_k8s_model(
                V1Volume,
                {"name": HOME_VOLUME, "persistentVolumeClaim": {"claimName": policy.home_claim}},
            )
        )
        mounts.append(V1VolumeMount(name=HOME_VOLUME, mount_path=policy.home_path))
    if policy.work_path and policy.work_volume:
        volumes.append(get_k8s_model(V1Volume, {**policy.work_volume, "name": WORK_VOLUME}))
        mounts.append(
            V1VolumeMount(
                name=WORK_VOLUME,
                mount_path=policy.work_path,
                sub_path=policy.work_sub_path or None,
            )
        )
    pod.spec.volumes = replace_by_name(pod.spec.volumes, volumes) or None
    container.volume_mounts = replace_by_name(container.volume_mounts, mounts) or None

    if policy.home_path:
        present = {var.name for var in container.env or []}
        env = [V1EnvVar(name="HOME", value=policy.home_path)]
        if "JUPYTERHUB_ROOT_DIR" not in present:  # KubeSpawner's notebook_dir wins
            env.append(V1EnvVar(name="JUPYTERHUB_ROOT_DIR", value=policy.home_path))
        container.env = replace_by_name(container.env, env)
    return pod
