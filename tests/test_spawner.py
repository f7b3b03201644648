"""TWCCSpawner: the pod for every selection, refusals, stale options, no leakage."""

from __future__ import annotations

import itertools
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from formparse import parse_form
from kubernetes_asyncio.client import ApiClient
from kubernetes_validate.utils import latest_version

from twcc_spawner import TWCCSpawner
from twcc_spawner.catalog import load_catalog
from twcc_spawner.refusal import SpawnRefusal

K8S_VERSION = latest_version()


def manifest(pod: Any) -> dict[str, Any]:
    return ApiClient().sanitize_for_serialization(pod)


def notebook(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def releases(form: str) -> list[str]:
    """The release menu's values, in order."""
    return [o.attrs["value"] for o in parse_form(form).options("twcc-release")]


def selected_release(form: str) -> list[str]:
    """Releases the form's release menu selects."""
    return [o.attrs["value"] for o in parse_form(form).options("twcc-release") if o.has("selected")]


def checked_size(form: str) -> list[str]:
    """Sizes the form's GPU radio buttons check."""
    return [v for v, radio in parse_form(form).radios("size").items() if radio.has("checked")]


async def spawn_pod(spawner: TWCCSpawner) -> dict[str, Any]:
    await spawner.load_user_options()
    return manifest(await spawner.get_pod_manifest())


def test_entry_point_names_the_spawner() -> None:
    (point,) = entry_points(group="jupyterhub.spawners", name="twcc")
    assert point.load() is TWCCSpawner


async def test_pytorch_21_11_with_2_gpus(make_spawner) -> None:
    pod = await spawn_pod(make_spawner(user_options={"release": "21.11", "gpus": 2}))
    container = notebook(pod)
    assert container["image"] == "nvcr.io/nvidia/pytorch:21.11-py3"
    limits = {"cpu": "8", "memory": "180G", "nvidia.com/gpu": "2"}
    assert container["resources"] == {"limits": limits, "requests": limits}
    (shm,) = [v for v in pod["spec"]["volumes"] if v["name"] == "twcc-dshm"]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "32G"}
    assert {"name": "twcc-dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"][
        "tolerations"
    ]
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TWCC_SELECTION"] == "PyTorch 21.11 / 2 GPUs"
    assert env["JUPYTER_IMAGE_SPEC"] == "nvcr.io/nvidia/pytorch:21.11-py3"
    assert env["TWCC_PYTORCH_VERSION"] == "1.11.0a0+b6df043"
    assert pod["metadata"]["labels"]["twcc.ai/gpus"] == "2"
    assert pod["metadata"]["annotations"]["twcc.ai/selection"] == "PyTorch 21.11 / 2 GPUs"


async def test_operator_settings_are_traits(make_spawner) -> None:
    spawner = make_spawner(
        user_options={"release": "19.02", "gpus": 1},
        image_registry="harbor.example.org/ngc/pytorch",
        gpu_tolerations=[
            {"key": "gpu", "operator": "Equal", "value": "v100", "effect": "NoSchedule"}
        ],
        gpu_node_selector={"twcc.ai/pool": "v100"},
        node_selector={"topology.kubernetes.io/zone": "a"},
        tolerations=[{"key": "dedicated", "operator": "Exists"}],
    )
    pod = await spawn_pod(spawner)
    assert notebook(pod)["image"] == "harbor.example.org/ngc/pytorch:19.02-py3-v1"
    assert pod["spec"]["nodeSelector"] == {
        "topology.kubernetes.io/zone": "a",
        "twcc.ai/pool": "v100",
    }
    assert pod["spec"]["tolerations"] == [
        {"key": "dedicated", "operator": "Exists"},
        {"key": "gpu", "operator": "Equal", "value": "v100", "effect": "NoSchedule"},
    ]


async def test_every_release_and_size_gives_a_schema_valid_pod(
    make_spawner, profiles_dir: Path
) -> None:
    path = profiles_dir / "sizes.yaml"
    document = yaml.safe_load(path.read_text())
    for size in document["sizes"]:
        size.pop("hidden", None)
    path.write_text(yaml.safe_dump(document))
    catalog = load_catalog(profiles_dir)
    assert len(catalog.releases) * len(catalog.sizes) == 15 * 9
    spawner = make_spawner()
    for release, size in itertools.product(catalog.releases, catalog.sizes):
        spawner.user_options = {"release": release.release, "size": size.name}
        pod = await spawn_pod(spawner)
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        container = notebook(pod)
        assert container["image"].endswith(":" + release.tag)
        assert container["resources"]["limits"]["nvidia.com/gpu"] == str(size.gpus)
        assert container["resources"]["limits"]["memory"] == size.memory


@pytest.mark.parametrize(
    "options",
    [
        {"release": "99.99"},
        {"release": "21.11", "gpus": 3},
        {"release": "21.11", "gpus": "2; rm -rf"},
        {"release": "21.11", "image": "evil/miner"},
        {"profile": "pytorch-21-11", "size": "nope"},
    ],
)
async def test_refusal_is_a_400_with_a_message_for_the_spawn_page(make_spawner, options) -> None:
    spawner = make_spawner(user_options=options)
    with pytest.raises(SpawnRefusal) as info:
        await spawner.load_user_options()
    assert info.value.status_code == 400
    assert info.value.jupyterhub_message == info.value.log_message
    assert "not offered" in info.value.jupyterhub_message or "Unknown option" in (
        info.value.jupyterhub_message
    )
    assert spawner.selection is None


async def test_a_failed_spawn_leaves_nothing_for_the_next(make_spawner) -> None:
    spawner = make_spawner(user_options={"release": "21.11", "gpus": 8})
    traits_before = {
        name: getattr(spawner, name)
        for name in (
            "image",
            "extra_resource_limits",
            "volumes",
            "tolerations",
            "node_selector",
            "environment",
        )
    }
    await spawn_pod(spawner)
    spawner.user_options = {"release": "21.11", "gpus": 1000}
    with pytest.raises(SpawnRefusal):
        await spawner.load_user_options()
    spawner.user_options = {"release": "20.11"}
    pod = await spawn_pod(spawner)
    assert notebook(pod)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert [v["name"] for v in pod["spec"]["volumes"]].count("twcc-dshm") == 1
    assert traits_before == {name: getattr(spawner, name) for name in traits_before}


async def test_stale_saved_options_refuse_with_pick_again_and_the_form_still_renders(
    make_spawner, profiles_dir: Path
) -> None:
    spawner = make_spawner(user_options={"release": "20.02", "gpus": 2})
    await spawn_pod(spawner)

    path = profiles_dir / "releases.yaml"
    document = yaml.safe_load(path.read_text())
    document["releases"] = [r for r in document["releases"] if r["release"] != "20.02"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    with pytest.raises(SpawnRefusal) as info:
        await spawner.load_user_options()
    assert info.value.jupyterhub_message.startswith(
        "PyTorch release '20.02' is not offered; pick one of: 22.02"
    )
    form = await spawner.get_options_form()
    assert selected_release(form) == ["22.02"]
    assert checked_size(form) == ["c.super"]
    assert "20.02" not in releases(form)


async def test_form_posts_become_canonical_options(make_spawner) -> None:
    spawner = make_spawner()
    options = spawner.options_from_form({"release": ["21.11"], "size": ["c.xsuper"]})
    assert options == {"release": "21.11", "size": "c.xsuper"}
    spawner.user_options = options
    pod = await spawn_pod(spawner)
    assert notebook(pod)["resources"]["limits"]["nvidia.com/gpu"] == "2"


async def test_an_allowed_image_is_offered_in_the_form_and_runs(make_spawner) -> None:
    image = "registry.twcc.ai/lab-a/torch:21.11-v2"
    closed = make_spawner()
    assert "twcc-image" not in parse_form(await closed.get_options_form()).by_id
    with pytest.raises(SpawnRefusal, match="Unknown option"):
        await spawn_pod(make_spawner(user_options={"release": "21.11", "image": image}))

    spawner = make_spawner(allowed_images=["registry.twcc.ai/lab-a/*"])
    form = await spawner.get_options_form()
    field = parse_form(form).by_id["twcc-image"]
    assert (field.attrs["name"], field.attrs["value"]) == ("image", "")
    assert "registry.twcc.ai/lab-a/*" in parse_form(form).text("twcc-image-help")
    spawner.user_options = spawner.options_from_form(
        {"release": ["21.11"], "size": ["c.xsuper"], "image": [image]}
    )
    pod = await spawn_pod(spawner)
    container = notebook(pod)
    assert container["image"] == image
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TWCC_RELEASE"] == "21.11"  # the release's checks and facts still apply
    again = parse_form(await spawner.get_options_form())
    assert again.by_id["twcc-image"].attrs["value"] == image  # preselected next time


async def test_form_lists_releases_and_preselects_the_last_choice(make_spawner) -> None:
    spawner = make_spawner(user_options={"release": "21.11", "size": "c.xsuper"})
    form = await spawner.get_options_form()
    assert len(releases(form)) == 15
    (option,) = [o for o in parse_form(form).options("twcc-release") if o.attrs["value"] == "21.11"]
    assert option.text == (
        "PyTorch 21.11 · PyTorch 1.11.0a0+b6df043 · CUDA 11.5.0 · Python 3.8"
        " · (some versions unverified)"
    )
    assert selected_release(form) == ["21.11"]
    assert checked_size(form) == ["c.xsuper"]


async def test_group_restricted_release_is_neither_shown_nor_startable(
    make_spawner, profiles_dir: Path
) -> None:
    path = profiles_dir / "releases.yaml"
    document = yaml.safe_load(path.read_text())
    document["releases"][1]["groups"] = ["ampere-pilot"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    outsider = make_spawner(user_options={"release": "21.11"})
    form = await outsider.get_options_form()
    assert "21.11" not in releases(form) and len(releases(form)) == 14
    with pytest.raises(SpawnRefusal, match="not offered"):
        await outsider.load_user_options()

    member = make_spawner(groups=("ampere-pilot",), user_options={"release": "21.11"})
    assert notebook(await spawn_pod(member))["image"].endswith(":21.11-py3")


async def test_selection_label_names_what_the_server_runs(make_spawner, profiles_dir: Path) -> None:
    spawner = make_spawner(user_options={"release": "21.11", "gpus": 2})
    assert spawner.selection_label == "PyTorch 21.11 / 2 GPUs"
    assert make_spawner(user_options={"release": "99.99"}).selection_label is None
    assert spawner.translate("home.running") == "Running"


def starting_pod(ready: bool, init_exit: int | None = None) -> dict[str, Any]:
    """A reflected server pod: running (ready or not), or with a finished init container."""
    status: dict[str, Any] = {
        "phase": "Running" if init_exit is None else "Pending",
        "podIP": "10.1.2.3",
        "containerStatuses": [{"name": "notebook", "ready": ready, "state": {"running": {}}}],
    }
    if init_exit is not None:
        terminated = {"exitCode": init_exit, "reason": "Error"}
        status["initContainerStatuses"] = [{"name": "env", "state": {"terminated": terminated}}]
        del status["containerStatuses"]
    ports = [{"name": "notebook-port", "containerPort": 8888}]
    spec = {"containers": [{"name": "notebook", "ports": ports}]}
    return {"metadata": {"name": "jupyter-alice"}, "spec": spec, "status": status}


async def url_after_restart(make_spawner, pods: list[dict[str, Any] | None]) -> str:
    """``get_url`` of a spawn taken over by a restarted hub, the pod going through ``pods``."""
    from jupyterhub.objects import Server

    spawner = make_spawner(watchdog_interval=0.01, start_timeout=5)
    spawner.server = Server(ip="", port=4321, base_url="/user/alice/")  # a placeholder
    seen = iter(pods)
    last: list[dict[str, Any] | None] = [None]

    def reflected() -> dict[str, Any] | None:
        last[0] = next(seen, last[0])
        return last[0]

    async def watching() -> None:
        pass

    spawner._start_watching_pods = watching
    spawner._reflected_pod = reflected
    return await spawner.get_url()


async def test_a_restarted_hub_gets_the_pods_url_once_the_pod_runs(make_spawner) -> None:
    pods = [starting_pod(ready=False)] * 3 + [starting_pod(ready=True)]
    assert await url_after_restart(make_spawner, pods) == "http://10.1.2.3:8888"


@pytest.mark.parametrize("pod", [None, starting_pod(ready=False, init_exit=1)])
async def test_a_pod_that_is_gone_or_failed_leaves_the_recorded_url(make_spawner, pod) -> None:
    url = await url_after_restart(make_spawner, [pod])
    assert url.endswith(":4321/user/alice/"), url
