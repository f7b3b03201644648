"""Loading and validating profiles/: the shipped catalog and every kind of broken file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from twcc_spawner.catalog import CatalogError, load_catalog

SEED_TAGS = [
    "22.02-py3",
    "21.11-py3",
    "21.08-py3",
    "21.06-py3",
    "21.02-py3",
    "20.11-py3",
    "20.08-py3",
    "20.06-py3",
    "20.02-py3",
    "19.11-py3",
    "19.08-py3",
    "19.02-py3-v1",
    "18.12-py3-v1",
    "18.10-py3-v1",
    "18.08-py3-v1",
]


def test_shipped_catalog_has_the_seed_releases_newest_first(shipped_profiles: Path) -> None:
    catalog = load_catalog(shipped_profiles)
    assert [r.tag for r in catalog.releases] == SEED_TAGS
    assert catalog.default_release(frozenset()).release == "22.02"
    for release in catalog.releases:
        assert release.source.startswith(
            "https://docs.nvidia.com/deeplearning/frameworks/pytorch-release-notes/rel_"
        )
        assert (
            release.image_ref("nvcr.io/nvidia/pytorch") == f"nvcr.io/nvidia/pytorch:{release.tag}"
        )
        assert release.python in {"3.6", "3.8"}


def test_shipped_sizes_are_twccs_container_types(shipped_profiles: Path) -> None:
    catalog = load_catalog(shipped_profiles)
    visible = catalog.sizes_for(frozenset())
    assert [(s.name, s.gpus, s.cpu, s.memory) for s in visible] == [
        ("c.super", 1, 4, "90G"),
        ("c.xsuper", 2, 8, "180G"),
        ("c.2xsuper", 4, 16, "360G"),
        ("c.4xsuper", 8, 32, "720G"),
    ]
    assert [s.label for s in visible] == ["1 GPU", "2 GPUs", "4 GPUs", "8 GPUs"]
    shared = {s.name: s.shm for s in catalog.sizes if s.name.startswith("cm")}
    assert shared == {
        "cm.super": "30G",
        "cm.xsuper": "60G",
        "cm.2xsuper": "120G",
        "cm.4xsuper": "240G",
        "cm1.4xsuper": "360G",
    }


def _edit(directory: Path, file: str, change) -> None:
    path = directory / file
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _problems(directory: Path) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(directory)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][1].update(imge="x"),
            "releases.yaml: releases[1] (21.11): imge: unknown key(s) 'imge'",
            id="unknown-key",
        ),
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][2].update(release="21.11", tag="21.11-py3"),
            "releases.yaml: releases[2] (21.11): release: duplicates releases[1]",
            id="duplicate-release",
        ),
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][3].update(pytorch="1.9 beta"),
            "releases.yaml: releases[3] (21.06): pytorch: '1.9 beta' is not valid; expected",
            id="bad-version",
        ),
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][0].update(release="22.13"),
            "releases.yaml: releases[0] (22.13): release: '22.13' is not valid",
            id="bad-release-month",
        ),
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][0]["driver"].update(minimum="r510"),
            "releases.yaml: releases[0] (22.02): driver.minimum: 'r510' is not valid",
            id="bad-driver",
        ),
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][4].update(architectures=["blackwell"]),
            "releases.yaml: releases[4] (21.02): architectures.0: 'blackwell' is not one of",
            id="unknown-architecture",
        ),
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][5].pop("cuda"),
            "releases.yaml: releases[5] (20.11): cuda: is required",
            id="missing-field",
        ),
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][0].update(hidden=True),
            "releases.yaml: releases[0] (22.02): default: the default is hidden",
            id="default-hidden",
        ),
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][3].update(default=True),
            "releases.yaml: releases[3] (21.06): default: only one entry may be the default",
            id="two-defaults",
        ),
        pytest.param(
            "releases.yaml",
            lambda d: d["releases"][1].update(tag="21.08-py3"),
            "releases.yaml: releases[1] (21.11): tag: '21.08-py3' does not belong to release 21.11",
            id="tag-of-another-release",
        ),
        pytest.param(
            "sizes.yaml",
            lambda d: d["sizes"][1].update(gpus=0),
            "sizes.yaml: sizes[1] (c.xsuper): gpus: 0 is less than the minimum of 1",
            id="zero-gpus",
        ),
        pytest.param(
            "sizes.yaml",
            lambda d: d["sizes"][0].update(shm="100G"),
            "sizes.yaml: sizes[0] (c.super): shm: /dev/shm cannot be larger than the memory limit",
            id="shm-over-memory",
        ),
    ],
)
def test_each_schema_error_names_file_entry_and_field(
    profiles_dir: Path, file: str, change, expected: str
) -> None:
    _edit(profiles_dir, file, change)
    problems = _problems(profiles_dir)
    assert any(p.startswith(expected) for p in problems), problems


def test_duplicate_label_among_visible_sizes(profiles_dir: Path) -> None:
    _edit(profiles_dir, "sizes.yaml", lambda d: d["sizes"][4].update(hidden=False, label="1 GPU"))
    assert _problems(profiles_dir) == [
        "sizes.yaml: sizes[4] (cm.super): label: '1 GPU' is also the label of sizes[0] (c.super)"
    ]


def test_every_problem_in_both_files_is_reported_at_once(profiles_dir: Path) -> None:
    _edit(profiles_dir, "releases.yaml", lambda d: d["releases"][0].update(pytorch="x", colour=1))
    _edit(profiles_dir, "sizes.yaml", lambda d: d["sizes"][2].update(cpu=-1))
    with pytest.raises(CatalogError) as info:
        load_catalog(profiles_dir)
    message = str(info.value)
    assert message.startswith("3 problem(s) in the profiles:")
    assert "releases.yaml: releases[0] (22.02): colour: unknown key(s) 'colour'" in message
    assert "releases.yaml: releases[0] (22.02): pytorch: 'x' is not valid" in message
    assert "sizes.yaml: sizes[2] (c.2xsuper): cpu: -1" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("releases: [\n  - release: '22.02'\n  bad", "releases.yaml: line 2: is not valid YAML"),
        (
            "releases:\n  - release: '22.02'\n    release: '22.03'\n",
            "releases.yaml: line 3: is not valid YAML: key 'release' appears twice",
        ),
        ("", "releases.yaml: is empty"),
        ("- 1\n- 2\n", "releases.yaml: [1, 2] is not of type 'object'"),
    ],
    ids=["syntax", "duplicate-key", "empty", "not-a-mapping"],
)
def test_unreadable_files(profiles_dir: Path, text: str, expected: str) -> None:
    (profiles_dir / "releases.yaml").write_text(text)
    problems = _problems(profiles_dir)
    assert any(p.startswith(expected) for p in problems), problems


def test_missing_file(profiles_dir: Path) -> None:
    (profiles_dir / "sizes.yaml").unlink()
    assert _problems(profiles_dir) == ["sizes.yaml: cannot be read: No such file or directory"]


def test_conflicting_facts_are_marked_with_both_sources(shipped_profiles: Path) -> None:
    from twcc_spawner.tools.catalog_doc import catalog_markdown

    catalog = load_catalog(shipped_profiles)
    conflicting = {r.release: r.conflicting for r in catalog.releases if r.conflicting}
    assert conflicting == {
        "21.08": {"cudnn"},
        "21.02": {"cudnn"},
        "19.11": {"pytorch"},
    }
    for release, fields in conflicting.items():
        entry = catalog.release(release)
        assert fields <= entry.unverified  # shown as unverified in the form
        for field in fields:
            assert "disagree" in entry.notes[field] or "typo" in entry.notes[field]
    assert "1.4.0a0+174e1ba" in catalog.release("19.11").notes["pytorch"]
    assert "470.57" in catalog.release("21.11").driver.datacenter
    page = catalog_markdown(catalog)
    assert "1.4.0a0+649135b (conflicting sources)" in page
