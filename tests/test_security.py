"""User pods are locked down by default; an operator setting that reopens a hole is refused."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_validate.utils import latest_version

from twcc_spawner.refusal import SpawnRefusal
from twcc_spawner.security import pod_security_problems


async def pod_of(spawner: Any) -> dict[str, Any]:
    await spawner.load_user_options()
    return ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())


async def test_default_pod_is_locked_down(make_spawner) -> None:
    pod = await pod_of(make_spawner(user_options={"release": "18.08", "gpus": 1}))
    kubernetes_validate.validate(pod, latest_version(), strict=True)
    assert pod_security_problems(pod) == []
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in [*spec["initContainers"], *spec["containers"]]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["privileged"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
    assert not any("hostPath" in v for v in spec["volumes"])
    assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            {"volumes": [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]},
            "volume 'docker' is a hostPath",
        ),
        ({"extra_pod_config": {"hostNetwork": True}}, "hostNetwork is set"),
        ({"container_security_context": {"privileged": True}}, "is privileged"),
        (
            {"container_security_context": {"capabilities": {"add": ["SYS_ADMIN"]}}},
            "does not drop all capabilities",
        ),
        ({"pod_security_context": {}}, "no seccomp profile (RuntimeDefault) is set"),
        ({"automount_service_account_token": True}, "the service-account token is mounted"),
    ],
    ids=["host-path", "host-network", "privileged", "capabilities", "seccomp", "token"],
)
async def test_a_setting_that_reopens_a_hole_stops_the_spawn(
    make_spawner, config: dict[str, Any], problem: str
) -> None:
    spawner = make_spawner(user_options={"release": "22.02"}, **config)
    with pytest.raises(SpawnRefusal) as info:
        await pod_of(spawner)
    assert info.value.status_code == 500
    assert problem in info.value.jupyterhub_message
    assert "tell the operators" in info.value.jupyterhub_message

    relaxed = make_spawner(user_options={"release": "22.02"}, enforce_pod_security=False, **config)
    manifest = await pod_of(relaxed)
    assert problem in "; ".join(pod_security_problems(manifest))
    # The spawner checks KubeSpawner's V1Pod itself: the same verdict as on the manifest.
    assert pod_security_problems(await relaxed.get_pod_manifest()) == pod_security_problems(
        manifest
    )


async def test_operator_containers_get_the_restricted_defaults_and_start(make_spawner) -> None:
    spawner = make_spawner(
        user_options={"release": "22.02"},
        init_containers=[{"name": "fetch", "image": "busybox", "command": ["true"]}],
        extra_containers=[
            {
                "name": "side",
                "image": "busybox",
                "securityContext": {"runAsUser": 1000, "capabilities": {"add": []}},
            }
        ],
    )
    pod = await pod_of(spawner)
    kubernetes_validate.validate(pod, latest_version(), strict=True)
    assert pod_security_problems(pod) == []
    spec = pod["spec"]
    (fetch,) = [c for c in spec["initContainers"] if c["name"] == "fetch"]
    assert fetch["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    (side,) = [c for c in spec["containers"] if c["name"] == "side"]
    assert side["securityContext"] == {  # what it sets is kept
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"add": [], "drop": ["ALL"]},
    }


async def test_a_trusted_container_runs_as_configured(make_spawner) -> None:
    privileged = {
        "name": "block-cloud-metadata",
        "image": "quay.io/jupyterhub/k8s-network-tools:4.4.0",
        "securityContext": {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}},
    }
    refused = make_spawner(user_options={"release": "22.02"}, init_containers=[privileged])
    with pytest.raises(SpawnRefusal, match="'block-cloud-metadata' is privileged"):
        await pod_of(refused)
    trusted = make_spawner(
        user_options={"release": "22.02"},
        init_containers=[privileged],
        trusted_containers=["block-cloud-metadata"],
    )
    pod = await pod_of(trusted)
    (container,) = [c for c in pod["spec"]["initContainers"] if c["name"] == privileged["name"]]
    assert container["securityContext"] == privileged["securityContext"]
