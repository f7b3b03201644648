"""What TWCCSpawner keeps of KubeSpawner: its test mode, and the pod its traits make.

Each case configures KubeSpawner's traits (in the ``KubeSpawner`` section, as an
operator switching spawners would keep them), builds the pod with plain KubeSpawner
and with TWCCSpawner for the same user, and checks that TWCC's pod carries what
KubeSpawner's does. What TWCC adds on top is docs/kubespawner-differences.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import make_user
from kubernetes_asyncio.client import ApiClient
from kubespawner import KubeSpawner
from traitlets.config import Config

from twcc_spawner import TWCCSpawner


def manifest(pod: Any) -> dict[str, Any]:
    return ApiClient().sanitize_for_serialization(pod)


async def pods(settings: dict[str, Any], **twcc: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(KubeSpawner's pod, TWCCSpawner's pod) for alice with ``settings``."""
    config = Config({"KubeSpawner": settings, "TWCCSpawner": twcc})
    parent = KubeSpawner(_mock=True, user=make_user(), config=config)
    ours = TWCCSpawner(_mock=True, user=make_user(), config=config)
    ours.user_options = {"release": "21.11", "gpus": 2}
    await ours.load_user_options()
    return manifest(await parent.get_pod_manifest()), manifest(await ours.get_pod_manifest())


def notebook(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def env(pod: dict[str, Any]) -> dict[str, Any]:
    """The notebook's environment but the image variables (the image is TWCC's choice)."""
    image = {"JUPYTER_IMAGE_SPEC", "JUPYTER_IMAGE"}
    return {e["name"]: e.get("value") for e in notebook(pod)["env"] if e["name"] not in image}


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


@pytest.fixture(autouse=True)
def _fresh_catalogs():
    yield
    TWCCSpawner._catalog_sources.clear()


async def test_kubespawners_test_mode_works() -> None:
    # KubeSpawner(_mock=True) makes its own user: no groups, no server
    spawner = TWCCSpawner(_mock=True)
    assert spawner.user_groups == frozenset()
    form = await spawner.get_options_form()
    assert form.count("<option value=") == 15
    spawner.user_options = spawner.options_from_form({"profile": ["pytorch-21-11"]})
    await spawner.load_user_options()
    pod = manifest(await spawner.get_pod_manifest())
    assert notebook(pod)["image"] == "nvcr.io/nvidia/pytorch:21.11-py3"


async def test_any_user_object_without_groups() -> None:
    class User:  # the least a JupyterHub user object has for KubeSpawner
        name, id, url = "bob", 7, "/user/bob/"

    spawner = TWCCSpawner(_mock=True, user=User())
    assert spawner.user_groups == frozenset()
    assert "PyTorch 22.02" in await spawner.get_options_form()


Check = Callable[[dict[str, Any], dict[str, Any]], None]


def same(path: Callable[[dict[str, Any]], Any]) -> Check:
    def check(parent: dict[str, Any], ours: dict[str, Any]) -> None:
        assert path(ours) == path(parent)

    return check


def kept(path: Callable[[dict[str, Any]], dict[str, Any]]) -> Check:
    """Every entry of KubeSpawner's mapping (by name, for lists) is in TWCC's, unchanged."""

    def check(parent: dict[str, Any], ours: dict[str, Any]) -> None:
        theirs, mine = path(parent), path(ours)
        assert theirs, "the case must produce something to keep"
        assert {k: mine.get(k) for k in theirs} == theirs

    return check


CASES: list[tuple[str, dict[str, Any], Check]] = [
    (
        "labels-and-annotations-expanded",
        {
            "extra_labels": {"team": "lab-{username}"},
            "extra_annotations": {"owner": "{username}@example.org"},
        },
        lambda p, o: (
            kept(lambda m: m["metadata"]["labels"])(p, o),
            kept(lambda m: m["metadata"]["annotations"])(p, o),
            (o["metadata"]["labels"]["team"] == "lab-alice") or pytest.fail("not expanded"),
        ),
    ),
    (
        "environment-expanded",
        {"environment": {"WHO": "{username}", "PLAIN": "1"}},
        lambda p, o: (
            kept(env)(p, o),
            env(o)["WHO"] == "alice" or pytest.fail("not expanded"),
        ),
    ),
    (
        "volumes-list",
        {
            "volumes": [{"name": "data-{username}", "secret": {"secretName": "dummy"}}],
            "volume_mounts": [{"name": "data-{username}", "mountPath": "/data/{username}"}],
        },
        lambda p, o: (
            kept(lambda m: by_name(m["spec"]["volumes"]))(p, o),
            kept(lambda m: by_name(notebook(m)["volumeMounts"]))(p, o),
        ),
    ),
    (
        "volumes-dict-sorted-by-key",
        {
            "volumes": {
                "02-beta": {"name": "beta", "emptyDir": {}},
                "01-alpha": {"name": "alpha", "emptyDir": {}},
            },
            "volume_mounts": {
                "02-beta": {"name": "beta", "mountPath": "/beta"},
                "01-alpha": {"name": "alpha", "mountPath": "/alpha"},
            },
        },
        lambda p, o: (
            same(lambda m: [v["name"] for v in m["spec"]["volumes"]][:2])(p, o),
            same(lambda m: [v["name"] for v in notebook(m)["volumeMounts"]][:2])(p, o),
        ),
    ),
    (
        "extra-containers-dict",
        {"extra_containers": {"01-side": {"name": "side", "image": "busybox"}}},
        lambda p, o: (
            same(lambda m: [c["name"] for c in m["spec"]["containers"]])(p, o),
            same(lambda m: m["spec"]["containers"][1]["image"])(p, o),
        ),
    ),
    (
        "init-containers-before-twccs-own",
        {"init_containers": [{"name": "fetch", "image": "busybox", "command": ["true"]}]},
        same(lambda m: [c["name"] for c in m["spec"]["initContainers"]][:1]),
    ),
    (
        "node-affinity",
        {
            "node_affinity_required": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
            ],
            "node_affinity_preferred": [
                {
                    "weight": 1,
                    "preference": {"matchExpressions": [{"key": "fast", "operator": "Exists"}]},
                }
            ],
        },
        lambda p, o: (
            same(
                lambda m: m["spec"]["affinity"]["nodeAffinity"][
                    "preferredDuringSchedulingIgnoredDuringExecution"
                ]
            )(p, o),
            # TWCC ANDs its GPU requirements into each required term
            kept(
                lambda m: m["spec"]["affinity"]["nodeAffinity"][
                    "requiredDuringSchedulingIgnoredDuringExecution"
                ]["nodeSelectorTerms"][0]["matchExpressions"][0]
            )(p, o),
        ),
    ),
    (
        "pod-affinity-and-anti-affinity",
        {
            "pod_affinity_preferred": [
                {
                    "weight": 1,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": {"app": "jupyterhub"}},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ],
            "pod_anti_affinity_required": [
                {
                    "labelSelector": {"matchLabels": {"component": "singleuser-server"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ],
        },
        lambda p, o: (
            same(lambda m: m["spec"]["affinity"]["podAffinity"])(p, o),
            same(lambda m: m["spec"]["affinity"]["podAntiAffinity"])(p, o),
        ),
    ),
    (
        "tolerations-dict",
        {"tolerations": {"dedicated": {"key": "dedicated", "operator": "Exists"}}},
        same(lambda m: m["spec"]["tolerations"][:1]),
    ),
    (
        "node-selector",
        {"node_selector": {"zone": "a"}},
        kept(lambda m: m["spec"]["nodeSelector"]),
    ),
    (
        "scheduling-and-pull",
        {
            "priority_class_name": "research",
            "scheduler_name": "gpu-scheduler",
            "image_pull_secrets": ["ngc-{username}"],
        },
        lambda p, o: (
            same(lambda m: m["spec"]["priorityClassName"])(p, o),
            same(lambda m: m["spec"]["schedulerName"])(p, o),
            same(lambda m: m["spec"]["imagePullSecrets"])(p, o),
        ),
    ),
    (
        "extra-pod-and-container-config",
        {
            "extra_pod_config": {"dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 5},
            "extra_container_config": {"stdin": True},
            "lifecycle_hooks": {"postStart": {"exec": {"command": ["true"]}}},
        },
        lambda p, o: (
            same(lambda m: (m["spec"]["dnsPolicy"], m["spec"]["terminationGracePeriodSeconds"]))(
                p, o
            ),
            same(lambda m: (notebook(m)["stdin"], notebook(m)["lifecycle"]))(p, o),
        ),
    ),
    (
        "pod-name-and-working-dir-templates",
        {"pod_name_template": "gpu-{username}", "working_dir": "/work/{username}"},
        lambda p, o: (
            same(lambda m: m["metadata"]["name"])(p, o),
            same(lambda m: notebook(m)["workingDir"])(p, o),
        ),
    ),
]


@pytest.mark.parametrize(("settings", "check"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_twccs_pod_carries_what_kubespawners_traits_make(settings, check: Check) -> None:
    parent, ours = await pods(settings)
    check(parent, ours)


async def test_user_namespaces_are_kubespawners() -> None:
    config = Config({"KubeSpawner": {"enable_user_namespaces": True}})
    parent = KubeSpawner(_mock=True, user=make_user(), config=config)
    ours = TWCCSpawner(_mock=True, user=make_user(), config=config)
    assert ours.namespace == parent.namespace
    assert ours.namespace.endswith("-alice")
    assert ours.pvc_name == parent.pvc_name and ours.pod_name == parent.pod_name
