"""The shipped catalog, where profiles_dir points, and what the hub refuses at start-up."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import V1Capabilities, V1Container, V1SecurityContext
from traitlets.config import Config

from twcc_spawner import TWCCSpawner
from twcc_spawner.catalog import load_catalog
from twcc_spawner.catalog_source import SHIPPED_PROFILES, profiles_directory

ROOT = Path(__file__).resolve().parent.parent


def config(**spawner: Any) -> Config:
    return Config({"TWCCSpawner": spawner})


def test_the_package_ships_the_repository_catalog() -> None:
    names = ["releases.yaml", "sizes.yaml"]
    match, mismatch, errors = filecmp.cmpfiles(ROOT / "profiles", SHIPPED_PROFILES, names, False)
    assert (match, mismatch, errors) == (names, [], [])
    assert len(load_catalog(SHIPPED_PROFILES).releases) == 15


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("", SHIPPED_PROFILES),
        ("profiles", Path("/etc/jupyterhub/profiles")),
        ("../twcc/profiles", Path("/etc/twcc/profiles")),
        ("/srv/profiles", Path("/srv/profiles")),
    ],
    ids=["unset", "relative", "relative-up", "absolute"],
)
def test_profiles_dir_resolves_against_the_config_files_directory(setting, expected) -> None:
    assert profiles_directory(setting, Path("/etc/jupyterhub")) == expected


async def test_unset_profiles_dir_serves_the_shipped_catalog_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no profiles/ here
    spawner = TWCCSpawner(_mock=True)
    try:
        assert spawner.profiles_path == SHIPPED_PROFILES
        assert len(spawner.catalog().releases) == 15
    finally:
        TWCCSpawner._catalog_sources.clear()


def test_the_shipped_catalog_and_default_settings_pass(tmp_path: Path) -> None:
    assert TWCCSpawner.startup_problems(Config()) == []


def test_a_missing_profiles_dir_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert TWCCSpawner.startup_problems(config(profiles_dir=str(missing))) == [
        f"profiles_dir: {missing} is not a directory"
    ]


def test_a_broken_catalog_is_named_with_its_problems(profiles_dir: Path) -> None:
    (profiles_dir / "sizes.yaml").write_text("sizes: []\n")
    problems = TWCCSpawner.startup_problems(config(profiles_dir=str(profiles_dir)))
    TWCCSpawner._catalog_sources.clear()
    assert problems == [f"profiles_dir: {profiles_dir}/sizes.yaml: sizes: [] should be non-empty"]


CLOUD_METADATA = V1Container(  # as Zero-to-JupyterHub's chart adds it
    name="block-cloud-metadata",
    image="quay.io/jupyterhub/k8s-network-tools:4.4.0",
    command=["iptables", "--append", "OUTPUT", "--jump", "DROP"],
    security_context=V1SecurityContext(
        privileged=True, run_as_user=0, capabilities=V1Capabilities(add=["NET_ADMIN"])
    ),
)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"init_containers": [CLOUD_METADATA]},
            [
                "init_containers: container 'block-cloud-metadata' is privileged",
                "init_containers: container 'block-cloud-metadata' adds capabilities NET_ADMIN",
            ],
        ),
        (
            {"extra_containers": [{"name": "side", "securityContext": {"privileged": True}}]},
            ["extra_containers: container 'side' is privileged"],
        ),
        (
            {
                "init_containers": [
                    {"name": "esc", "securityContext": {"allowPrivilegeEscalation": True}}
                ]
            },
            ["init_containers: container 'esc' may escalate privileges"],
        ),
        (
            {"container_security_context": {"capabilities": {"add": ["SYS_ADMIN"]}}},
            [
                "container_security_context: container 'notebook' may escalate privileges",
                "container_security_context: container 'notebook' does not drop all capabilities",
                "container_security_context: container 'notebook' adds capabilities SYS_ADMIN",
            ],
        ),
        (
            {"extra_container_config": {"securityContext": {"privileged": True}}},
            [
                "extra_container_config: container 'notebook' is privileged",
                "extra_container_config: container 'notebook' may escalate privileges",
                "extra_container_config: container 'notebook' does not drop all capabilities",
            ],
        ),
        ({"extra_pod_config": {"host_network": True}}, ["extra_pod_config: hostNetwork is set"]),
        (
            {"volumes": {"docker": {"name": "docker", "hostPath": {"path": "/var/run"}}}},
            ["volumes: volume 'docker' is a hostPath"],
        ),
        (
            {"service_account": "hub"},
            [
                "automount_service_account_token / service_account: "
                "the service-account token is mounted"
            ],
        ),
        (
            {"pod_security_context": {"seccompProfile": {"type": "Unconfined"}}},
            ["pod_security_context: no seccomp profile (RuntimeDefault) is set"],
        ),
    ],
    ids=[
        "z2jh-cloud-metadata",
        "privileged-sidecar",
        "escalation",
        "capabilities",
        "extra-container-config",
        "host-network",
        "host-path",
        "token",
        "seccomp",
    ],
)
def test_an_explicit_violation_is_named_by_its_setting(settings, expected) -> None:
    assert TWCCSpawner.startup_problems(config(**settings)) == expected


def test_operator_containers_without_a_security_context_pass() -> None:
    plain = [{"name": "fetch", "image": "busybox"}, V1Container(name="model", image="x")]
    assert TWCCSpawner.startup_problems(config(init_containers=plain, extra_containers=plain)) == []


def test_a_trusted_container_is_left_alone_and_the_rest_still_checked() -> None:
    privileged = {"name": "side", "securityContext": {"privileged": True}}
    settings = config(
        init_containers=[CLOUD_METADATA],
        extra_containers=[privileged],
        trusted_containers=["block-cloud-metadata"],
    )
    assert TWCCSpawner.startup_problems(settings) == [
        "extra_containers: container 'side' is privileged"
    ]


def test_kubespawner_sections_and_appended_containers_count() -> None:
    # z2jh's config appends to c.KubeSpawner.init_containers (a lazy config value)
    cfg = Config()
    cfg.KubeSpawner.init_containers.append(CLOUD_METADATA)
    assert len(TWCCSpawner.startup_problems(cfg)) == 2
    cfg.TWCCSpawner.trusted_containers = ["block-cloud-metadata"]
    assert TWCCSpawner.startup_problems(cfg) == []


def test_enforce_pod_security_false_checks_the_catalog_only(tmp_path: Path) -> None:
    settings = config(enforce_pod_security=False, extra_pod_config={"hostPID": True})
    assert TWCCSpawner.startup_problems(settings) == []
