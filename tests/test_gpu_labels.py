"""GFD labels: driver and GPU family rules, and node-affinity terms that mean the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twcc_spawner.catalog import Driver, load_catalog
from twcc_spawner.preflight.gpu_labels import (
    DRIVER_KEYS,
    Labelling,
    and_terms,
    architecture_terms,
    driver_needed,
    driver_satisfies,
    driver_terms,
    family_of_compute,
    node_gpu,
    release_terms,
    terms_match,
)

RELEASES = load_catalog(Path(__file__).parent.parent / "profiles").releases
R22_02 = Driver("510", ("418.40", "440.33", "450.51", "460.27", "470.57"))
R21_06 = Driver("465.19.01", ("418.40", "440.33", "450.51", "460.27"))
R20_11 = Driver("455", ("418", "440.30", "450"))


def driver_labels(version: tuple[int, int, int], scheme: str = "driver-version") -> dict:
    major, minor, revision = DRIVER_KEYS[scheme]
    return {major: str(version[0]), minor: f"{version[1]:02d}", revision: f"{version[2]:02d}"}


@pytest.mark.parametrize(
    "driver, version, ok",
    [
        (R22_02, (510, 47, 3), True),
        (R22_02, (525, 60, 13), True),
        (R22_02, (495, 29, 5), False),  # newer than 470.57 but neither 510+ nor a listed branch
        (R22_02, (470, 57, 2), True),
        (R22_02, (470, 42, 1), False),
        (R22_02, (418, 40, 4), True),
        (R22_02, (418, 39, 0), False),
        (R21_06, (465, 19, 1), True),
        (R21_06, (465, 19, 0), False),
        (R21_06, (465, 20, 0), True),
        (R20_11, (418, 0, 0), True),  # "418": any 418 driver
        (R20_11, (440, 30, 0), True),
        (R20_11, (440, 29, 9), False),
        (R20_11, (450, 1, 0), True),
        (R20_11, (454, 99, 99), False),
    ],
)
def test_driver_rules(driver: Driver, version: tuple[int, int, int], ok: bool) -> None:
    assert driver_satisfies(version, driver) is ok
    for scheme in DRIVER_KEYS:
        assert terms_match(driver_terms(driver, [scheme]), driver_labels(version, scheme)) is ok


@given(
    release=st.sampled_from(RELEASES),
    version=st.tuples(st.integers(380, 560), st.integers(0, 130), st.integers(0, 20)),
    scheme=st.sampled_from(list(DRIVER_KEYS)),
)
def test_driver_terms_mean_what_driver_satisfies_means(release, version, scheme) -> None:
    terms = driver_terms(release.driver, list(DRIVER_KEYS))
    expected = driver_satisfies(version, release.driver)
    assert terms_match(terms, driver_labels(version, scheme)) is expected


@pytest.mark.parametrize(
    "compute, family",
    [((3, 7), "kepler"), ((6, 1), "pascal"), ((7, 0), "volta"), ((7, 5), "turing"),
     ((8, 6), "ampere"), ((8, 9), None), ((9, 0), "hopper")],
)  # fmt: skip
def test_family_of_compute(compute: tuple[int, int], family: str | None) -> None:
    assert family_of_compute(*compute) == family


@pytest.mark.parametrize(
    "labels, driver, scheme, family, source",
    [
        pytest.param(
            {**driver_labels((470, 57, 2)), "nvidia.com/gpu.family": "volta"},
            "470.57.02", "driver-version", "volta", "family", id="current",
        ),
        pytest.param(
            {**driver_labels((450, 51, 6), "driver"), "nvidia.com/gpu.compute.major": "8",
             "nvidia.com/gpu.compute.minor": "0"},
            "450.51.06", "driver", "ampere", "compute", id="deprecated-and-compute",
        ),
        pytest.param({}, None, None, None, None, id="no-gfd"),
    ],
)  # fmt: skip
def test_node_gpu(labels, driver, scheme, family, source) -> None:
    gpu = node_gpu(labels)
    assert (gpu.driver_text, gpu.driver_scheme, gpu.family, gpu.family_source) == (
        driver,
        scheme,
        family,
        source,
    )


@given(
    release=st.sampled_from(RELEASES),
    compute=st.sampled_from(
        [(3, 5), (5, 2), (6, 0), (7, 0), (7, 5), (8, 0), (8, 6), (8, 9), (9, 0)]
    ),
    labelled=st.booleans(),
)
def test_architecture_terms_agree_with_the_family(release, compute, labelled) -> None:
    labels = {"nvidia.com/gpu.compute.major": str(compute[0])}
    labels["nvidia.com/gpu.compute.minor"] = str(compute[1])
    family = family_of_compute(*compute)
    if labelled and family:
        labels["nvidia.com/gpu.family"] = family
    terms = architecture_terms(release.architectures, ["family", "compute"])
    assert terms_match(terms, labels) is (family in release.architectures)


def test_release_terms_follow_the_labels_in_use() -> None:
    release = next(r for r in RELEASES if r.release == "22.02")
    assert release_terms(release, Labelling()) == ([], [])
    driver, arch = release_terms(release, Labelling(frozenset({"driver-version"}), frozenset()))
    assert len(driver) == 6 and arch == []
    assert driver[0] == (("nvidia.com/cuda.driver-version.major", "Gt", ("509",)),)
    both = Labelling(frozenset(DRIVER_KEYS), frozenset({"family"}))
    driver, arch = release_terms(release, both)
    assert len(driver) == 12
    assert arch == [(("nvidia.com/gpu.family", "In", ("ampere", "pascal", "turing", "volta")),)]
    assert len(and_terms(driver, arch)) == 12


def test_driver_needed_names_the_branches() -> None:
    assert driver_needed(R20_11) == (
        "NVIDIA driver 455 or later (or a data-center driver 418, 440.30+, 450)"
    )
