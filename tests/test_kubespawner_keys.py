"""KubeSpawner's spelling of a choice (``profile`` + its option) selects the same thing,
and is refused exactly like TWCC's keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubespawner import KubeSpawner

from twcc_spawner.catalog import Catalog, load_catalog
from twcc_spawner.refusal import SpawnRefusal
from twcc_spawner.selection import SelectionError, options_from_form, resolve


@pytest.fixture
def catalog(shipped_profiles: Path) -> Catalog:
    return load_catalog(shipped_profiles)


@pytest.mark.parametrize(
    ("kubespawner", "twcc"),
    [
        (
            {"profile": "pytorch-21-11", "size": "c.xsuper"},
            {"release": "21.11", "size": "c.xsuper"},
        ),
        ({"profile": "pytorch-19-02"}, {"release": "19.02"}),
        ({"profile": ""}, {}),
        ({"profile": "pytorch-21-11", "gpus": 2}, {"release": "21.11", "gpus": 2}),
        ({"profile": "pytorch-21-11", "release": "21.11"}, {"release": "21.11"}),
    ],
    ids=["profile-and-size", "profile-only", "empty-profile-is-default", "with-gpus", "both"],
)
def test_the_same_choice_in_both_spellings(catalog: Catalog, kubespawner, twcc) -> None:
    assert resolve(catalog, kubespawner) == resolve(catalog, twcc)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profile": "pytorch-99-99"}, "Profile 'pytorch-99-99' is not offered; pick one of: "),
        ({"profile": ["pytorch-21-11"]}, "Profile ['pytorch-21-11'] is not offered"),
        ({"profile": "pytorch-21-11", "size": "c.huge"}, "Size 'c.huge' is not offered"),
        ({"profile": "pytorch-21-11", "gpus": 3}, "3 GPUs is not offered"),
        (
            {"profile": "pytorch-21-11", "release": "22.02"},
            "Profile pytorch-21-11 is PyTorch release 21.11, not '22.02'",
        ),
        ({"profile": "pytorch-21-11", "size--unlisted-choice": "x"}, "Unknown option(s)"),
    ],
)
def test_refused_like_twccs_keys(catalog: Catalog, options: dict[str, Any], message) -> None:
    with pytest.raises(SelectionError) as info:
        resolve(catalog, options)
    assert str(info.value).startswith(message)


def test_a_group_restricted_release_is_not_offered_by_its_slug(profiles_dir: Path) -> None:
    path = profiles_dir / "releases.yaml"
    path.write_text(
        path.read_text().replace('release: "21.08"\n', 'release: "21.08"\n    groups: [pilot]\n')
    )
    catalog = load_catalog(profiles_dir)
    with pytest.raises(SelectionError, match="Profile 'pytorch-21-08' is not offered"):
        resolve(catalog, {"profile": "pytorch-21-08"})
    assert resolve(catalog, {"profile": "pytorch-21-08"}, frozenset({"pilot"})).release.release == (
        "21.08"
    )


# A KubeSpawner form posts the chosen profile and every profile's option fields.
KUBESPAWNER_FORM = {
    "_xsrf": ["token"],
    "profile": ["pytorch-21-11"],
    "profile-option-pytorch-22-02--size": ["c.super"],
    "profile-option-pytorch-21-11--size": ["c.2xsuper"],
}


async def test_kubespawner_form_fields_become_kubespawners_user_options(catalog: Catalog) -> None:
    ours = options_from_form(KUBESPAWNER_FORM)
    # KubeSpawner 7.1's own form parsing, on a KubeSpawner serving the same profile list
    parent = KubeSpawner(_mock=True)
    assert ours == parent.options_from_form(KUBESPAWNER_FORM)
    assert ours == {"profile": "pytorch-21-11", "size": "c.2xsuper"}
    assert resolve(catalog, ours).user_options() == {"release": "21.11", "size": "c.2xsuper"}


@pytest.mark.parametrize(
    ("formdata", "message"),
    [
        ({"profile-option-pytorch-21-11--size": ["c.super"]}, "Unknown option(s)"),
        (
            {"profile": ["pytorch-21-11"], "profile-option-pytorch-21-11--size": ["c.huge"]},
            "Size 'c.huge' is not offered",
        ),
        (
            {
                "profile": ["pytorch-21-11"],
                "size": ["c.super"],
                "profile-option-pytorch-21-11--size": ["c.xsuper"],
            },
            "Size ['c.super', 'c.xsuper'] is not offered",
        ),
    ],
    ids=["option-without-profile", "bad-choice", "two-spellings-disagree"],
)
def test_form_fields_that_name_nothing_offered_are_refused(
    catalog: Catalog, formdata, message
) -> None:
    with pytest.raises(SelectionError) as info:
        resolve(catalog, options_from_form(formdata))
    assert str(info.value).startswith(message)


async def test_the_spawner_refuses_with_a_400_before_any_kubernetes_call(make_spawner) -> None:
    spawner = make_spawner(user_options={"profile": "pytorch-99-99"})
    with pytest.raises(SpawnRefusal) as info:
        await spawner.load_user_options()
    assert info.value.status_code == 400
    assert "Profile 'pytorch-99-99' is not offered" in info.value.jupyterhub_message
    assert spawner.selection is None


async def test_the_spawner_starts_what_kubespawners_keys_name(make_spawner) -> None:
    spawner = make_spawner(user_options={"profile": "pytorch-21-11", "size": "c.xsuper"})
    await spawner.load_user_options()
    assert spawner.selection.label == "PyTorch 21.11 / 2 GPUs"
    pod = await spawner.get_pod_manifest()
    assert pod.spec.containers[0].image == "nvcr.io/nvidia/pytorch:21.11-py3"
