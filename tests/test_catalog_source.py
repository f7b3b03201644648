"""Live reload: an edit reaches the next spawn; a broken edit keeps the last good catalog."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml

from twcc_spawner.catalog import CatalogError
from twcc_spawner.catalog_source import CatalogSource


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


def test_an_edit_within_one_clock_tick_of_the_same_length_is_picked_up(
    profiles_dir: Path,
) -> None:
    """In place (same inode), same size, same mtime: as two writes within a coarse tick."""
    path = profiles_dir / "sizes.yaml"
    source = CatalogSource(profiles_dir)
    assert source.get().size("c.xsuper").cpu == 8
    before = os.stat(path)
    text = path.read_text()
    edited = text.replace("cpu: 8\n", "cpu: 6\n", 1)
    assert edited != text and len(edited) == len(text)
    with path.open("r+") as file:  # rewrite in place: the inode stays
        file.write(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
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


def _configmap_volume(directory: Path, files: dict[str, str], version: int) -> None:
    """Write ``files`` the way the kubelet updates a ConfigMap volume.

    The files live in a timestamped directory; ``..data`` links to it and each
    file name links through ``..data``. An update writes a new directory and
    swaps ``..data`` with one atomic rename.
    """
    payload = directory / f"..2026_01_01_00_00_0{version}.{version}"
    payload.mkdir()
    for name, text in files.items():
        (payload / name).write_text(text)
    link = directory / "..data_tmp"
    link.symlink_to(payload.name)
    link.rename(directory / "..data")
    for name in files:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")


def test_a_configmap_update_is_picked_up(profiles_dir: Path, tmp_path: Path) -> None:
    files = {name: (profiles_dir / name).read_text() for name in ("releases.yaml", "sizes.yaml")}
    mount = tmp_path / "mount"
    mount.mkdir()
    _configmap_volume(mount, files, 1)
    source = CatalogSource(mount)
    assert source.get().size("c.xsuper").cpu == 8

    edited = dict(files, **{"sizes.yaml": files["sizes.yaml"].replace("cpu: 8\n", "cpu: 6\n")})
    _configmap_volume(mount, edited, 2)
    assert source.get().size("c.xsuper").cpu == 6


async def test_running_servers_keep_their_selection_after_a_reload(
    make_spawner, profiles_dir: Path
) -> None:
    running = make_spawner(user_options={"release": "21.11", "gpus": 2})
    await running.load_user_options()
    selection = running.selection

    def drop_21_11(document: dict) -> None:
        document["releases"] = [r for r in document["releases"] if r["release"] != "21.11"]

    _rewrite(profiles_dir / "releases.yaml", drop_21_11)
    _rewrite(profiles_dir / "sizes.yaml", lambda d: d["sizes"][1].update(cpu=6))

    fresh = make_spawner()
    assert fresh.catalog().release("21.11") is None  # the next spawn sees the edit
    assert "21.11" not in await fresh.get_options_form()
    assert running.selection is selection  # the running server's selection stays
    pod = await running.get_pod_manifest()
    container = pod.spec.containers[0]
    assert container.image == "nvcr.io/nvidia/pytorch:21.11-py3"
    assert container.resources.limits["cpu"] == "8"
