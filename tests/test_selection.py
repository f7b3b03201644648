"""user_options to a selection: what is accepted, and every refusal with its message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from twcc_spawner.catalog import Catalog, load_catalog
from twcc_spawner.selection import SelectionError, options_from_form, resolve


@pytest.fixture
def catalog(shipped_profiles: Path) -> Catalog:
    return load_catalog(shipped_profiles)


@pytest.mark.parametrize(
    ("options", "label"),
    [
        ({}, "PyTorch 22.02 / 1 GPU"),
        (None, "PyTorch 22.02 / 1 GPU"),
        ({"release": "21.11", "gpus": 2}, "PyTorch 21.11 / 2 GPUs"),
        ({"release": "21.11", "gpus": "2"}, "PyTorch 21.11 / 2 GPUs"),
        ({"release": "21.11", "size": "c.xsuper"}, "PyTorch 21.11 / 2 GPUs"),
        ({"release": "21.11", "size": "c.xsuper", "gpus": 2}, "PyTorch 21.11 / 2 GPUs"),
        ({"release": "18.08", "gpus": 8}, "PyTorch 18.08 / 8 GPUs"),
        ({"gpus": 4}, "PyTorch 22.02 / 4 GPUs"),
    ],
)
def test_accepted_options(catalog: Catalog, options: Any, label: str) -> None:
    selection = resolve(catalog, options)
    assert selection.label == label
    assert resolve(catalog, selection.user_options()) == selection


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"release": "99.99"},
            "PyTorch release '99.99' is not offered; pick one of: 22.02, 21.11,",
        ),
        ({"release": 21.11}, "PyTorch release 21.11 is not offered"),
        ({"release": "pytorch-21-11"}, "PyTorch release 'pytorch-21-11' is not offered"),
        ({"release": "21.11", "gpus": 3}, "3 GPUs is not offered; pick one of: 1, 2, 4, 8 GPUs."),
        ({"release": "21.11", "gpus": 0}, "0 GPUs is not offered"),
        ({"release": "21.11", "gpus": -1}, "-1 GPUs is not offered"),
        ({"release": "21.11", "gpus": 1000}, "1000 GPUs is not offered"),
        ({"release": "21.11", "gpus": "2; rm -rf"}, "'2; rm -rf' GPUs is not offered"),
        ({"release": "21.11", "gpus": True}, "True GPUs is not offered"),
        ({"release": "21.11", "gpus": 2.0}, "2.0 GPUs is not offered"),
        ({"release": "21.11", "gpus": ["2"]}, "['2'] GPUs is not offered"),
        ({"release": "21.11", "gpus": "２"}, "'２' GPUs is not offered"),
        (
            {"release": "21.11", "size": "c.huge"},
            "Size 'c.huge' is not offered; pick one of: c.super,",
        ),
        ({"release": "21.11", "size": "cm.super"}, "Size 'cm.super' is not offered"),
        ({"release": "21.11", "size": "c.super", "gpus": 2}, "Size c.super has 1 GPUs, not 2"),
        ({"release": "21.11", "image": "evil/miner:latest"}, "Unknown option(s) 'image'"),
        ({"profile": "pytorch-99-99"}, "Profile 'pytorch-99-99' is not offered; pick one of:"),
        ({"size--unlisted-choice": "c.huge"}, "Unknown option(s) 'size--unlisted-choice'; the"),
        ({"release": "21.11", "extra_resource_limits": {"nvidia.com/gpu": 64}}, "Unknown option"),
        (["21.11"], "user_options must be an object"),
        ({"release": "x" * 5000}, "PyTorch release 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"),
    ],
)
def test_refused_options(catalog: Catalog, options: Any, message: str) -> None:
    with pytest.raises(SelectionError) as info:
        resolve(catalog, options)
    assert str(info.value).startswith(message)
    assert len(str(info.value)) < 300


def test_hidden_and_group_restricted_releases(profiles_dir: Path) -> None:
    path = profiles_dir / "releases.yaml"
    document = yaml.safe_load(path.read_text())
    document["releases"][1]["groups"] = ["ampere-pilot"]
    document["releases"][2]["hidden"] = True
    path.write_text(yaml.safe_dump(document))
    catalog = load_catalog(profiles_dir)

    for release in ("21.11", "21.08"):
        with pytest.raises(SelectionError, match="is not offered"):
            resolve(catalog, {"release": release})
    assert (
        resolve(catalog, {"release": "21.11"}, frozenset({"ampere-pilot"})).release.release
        == "21.11"
    )
    with pytest.raises(SelectionError) as info:
        resolve(catalog, {"release": "nope"})
    assert "21.11" not in str(info.value) and "21.08" not in str(info.value)


def test_form_fields_to_options(catalog: Catalog) -> None:
    form = {"release": ["21.11"], "size": ["c.xsuper"], "_xsrf": ["token"]}
    assert options_from_form(form) == {"release": "21.11", "size": "c.xsuper"}
    assert options_from_form({}) == {}
    forged = {"release": ["21.11"], "size": ["c.xsuper", "c.4xsuper"], "image": ["evil"]}
    assert options_from_form(forged) == {
        "release": "21.11",
        "size": ["c.xsuper", "c.4xsuper"],
        "image": "evil",
    }
    with pytest.raises(SelectionError, match="Unknown option"):
        resolve(catalog, options_from_form(forged))
    with pytest.raises(SelectionError, match=r"Size \['c.xsuper', 'c.4xsuper'\] is not offered"):
        resolve(catalog, {"release": "21.11", "size": ["c.xsuper", "c.4xsuper"]})


LAB_IMAGES = ("registry.twcc.ai/lab-a/*", "nvcr.io/nvidia/pytorch:*")


def test_an_allowed_image_runs_on_the_release_it_is_built_on(catalog: Catalog) -> None:
    image = "registry.twcc.ai/lab-a/torch:21.11-v2"
    options = {"release": "21.11", "gpus": 2, "image": image}
    selection = resolve(catalog, options, image_patterns=LAB_IMAGES)
    assert selection.image_ref("nvcr.io/nvidia/pytorch") == image
    assert selection.label == f"PyTorch 21.11 / 2 GPUs ({image})"
    assert selection.user_options() == {"release": "21.11", "size": "c.xsuper", "image": image}
    blank = resolve(catalog, {"release": "21.11", "image": ""}, image_patterns=LAB_IMAGES)
    assert blank.image is None  # the form's empty field: the release's own image
    assert blank.image_ref("nvcr.io/nvidia/pytorch") == "nvcr.io/nvidia/pytorch:21.11-py3"


@pytest.mark.parametrize(
    ("image", "patterns", "message"),
    [
        ("registry.twcc.ai/lab-a/x:1", (), "Unknown option(s) 'image'"),
        ("registry.twcc.ai/lab-b/x:1", LAB_IMAGES, "is not allowed here; allowed: registry"),
        ("docker.io/library/ubuntu", LAB_IMAGES, "is not allowed here"),
        ("registry.twcc.ai/lab-a/x y", LAB_IMAGES, "is not an image reference"),
        ("registry.twcc.ai/lab-a/../b", LAB_IMAGES, "is not an image reference"),
        ("registry.twcc.ai/lab-a/x:1;rm", LAB_IMAGES, "is not an image reference"),
        ("registry.twcc.ai/lab-a/" + "x" * 300, LAB_IMAGES, "is not an image reference"),
        (["registry.twcc.ai/lab-a/x"], LAB_IMAGES, "is not an image reference"),
        (7, LAB_IMAGES, "is not an image reference"),
    ],
    ids=["not-enabled", "other-lab", "outside", "space", "dot-dot", "shell", "long", "list", "int"],
)
def test_images_outside_the_allowlist_are_refused(
    catalog: Catalog, image: Any, patterns: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SelectionError) as info:
        resolve(catalog, {"release": "21.11", "image": image}, image_patterns=patterns)
    assert message in str(info.value)


def test_a_jupyterhub_6_start_body_saved_whole_by_a_5x_hub_is_unwrapped(catalog: Catalog) -> None:
    body = {"user_options": {"release": "21.11", "gpus": 2}, "display_name": "Training"}
    assert resolve(catalog, body).label == resolve(catalog, body["user_options"]).label
    with pytest.raises(SelectionError, match="Unknown option"):
        resolve(catalog, {"user_options": {"user_options": {"release": "21.11"}}})
    with pytest.raises(SelectionError, match="Unknown option"):
        resolve(catalog, {"user_options": {"release": "21.11"}, "gpus": 2})
