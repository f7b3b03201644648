"""Live reload: an edit reaches the next spawn; a broken edit keeps the last good catalog."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from twcc_spawner.catalog import CatalogError
from twcc_spawner.reload import CatalogSource


def _rewrite(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_an_edit_is_picked_up(profiles_dir: Path) -> None:
    source = CatalogSource(profiles_dir)
    first = source.get()
    assert source.get() is first  # unchanged files are not re-read
    _rewrite(profiles_dir / "sizes.yaml", lambda d: d["sizes"][1].update(cpu=6))
    assert source.get().size("c.xsuper").cpu == 6


def test_a_broken_edit_keeps_the_last_good_catalog(
    profiles_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = CatalogSource(profiles_dir)
    good = source.get()
    _rewrite(profiles_dir / "releases.yaml", lambda d: d["releases"][3].update(pytorch="oops!"))
    with caplog.at_level(logging.ERROR):
        assert source.get() is good
        assert source.get() is good
    (record,) = caplog.records  # logged once per broken edit, not per request
    assert "keeping the last good catalog" in record.getMessage()
    assert (
        "releases.yaml: releases[3] (21.06): pytorch: 'oops!' is not valid" in record.getMessage()
    )
    assert isinstance(source.error, CatalogError)

    _rewrite(profiles_dir / "releases.yaml", lambda d: d["releases"][3].update(pytorch="1.9.0"))
    assert source.get().release("21.06").pytorch == "1.9.0"
    assert source.error is None


def test_files_that_were_never_good_raise(profiles_dir: Path) -> None:
    (profiles_dir / "sizes.yaml").write_text("sizes: []\n")
    with pytest.raises(CatalogError, match=r"sizes.yaml: sizes: \[\] should be non-empty"):
        CatalogSource(profiles_dir).get()
