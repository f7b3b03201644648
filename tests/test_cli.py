"""``twcc-profiles``, run as operators run it: a subprocess, its exit code and its output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from twcc_spawner.catalog import load_catalog
from twcc_spawner.tools.manifests import idle_culler_service
from twcc_spawner.tools.scaffold import ScaffoldError, add_release

ROOT = Path(__file__).resolve().parent.parent


def twcc_profiles(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twcc_spawner.tools.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_entry_point_is_installed() -> None:
    script = shutil.which("twcc-profiles", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "validate" in result.stdout and "add-release" in result.stdout


def test_help_reads_well() -> None:
    result = twcc_profiles("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("Work with twcc-spawner's profile files")
    for command in ("validate", "list", "render", "add-release", "configmap", "prepuller"):
        assert f"\n{command}\n" in result.stdout
    sub = twcc_profiles("validate", "--help")
    assert sub.returncode == 0
    assert "exit 1 and print every problem" in sub.stdout
    assert "--profiles-dir=<Unicode>" in sub.stdout
    bare = twcc_profiles()
    assert bare.returncode == 2 and "Subcommands" in bare.stdout


def test_validate_accepts_the_shipped_profiles() -> None:
    result = twcc_profiles("validate", "profiles")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "profiles: 15 releases, 9 sizes: OK\n"


def test_validate_lists_every_problem_one_per_line(profiles_dir: Path) -> None:
    releases = profiles_dir / "releases.yaml"
    releases.write_text(releases.read_text().replace("cuda: 11.5.0", "cuda: eleven"))
    sizes = profiles_dir / "sizes.yaml"
    sizes.write_text(sizes.read_text().replace("    gpus: 2\n", "    gpus: 0\n", 1))
    result = twcc_profiles("validate", profiles_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "releases.yaml: releases[1] (21.11): cuda: 'eleven' is not valid; "
        "expected a form like 1.11.0a0+17540c5, 11.5.0, 3.8",
        "sizes.yaml: sizes[1] (c.xsuper): gpus: 0 is less than the minimum of 1",
    ]


def test_list_shows_the_labels_a_group_sees(profiles_dir: Path) -> None:
    path = profiles_dir / "releases.yaml"
    path.write_text(
        path.read_text().replace(
            "    tag: 21.08-py3\n", "    tag: 21.08-py3\n    groups: [pilot]\n"
        )
    )
    everyone = twcc_profiles("list", "--profiles-dir", profiles_dir).stdout.splitlines()
    assert everyone[:2] == ["PyTorch 22.02 / 1 GPU (default)", "PyTorch 22.02 / 2 GPUs"]
    assert "PyTorch 21.11 / 2 GPUs" in everyone
    assert len(everyone) == 14 * 4
    assert not any(line.startswith("PyTorch 21.08") for line in everyone)
    pilot = twcc_profiles("list", "--profiles-dir", profiles_dir, "--groups=staff,pilot")
    assert "PyTorch 21.08 / 8 GPUs" in pilot.stdout.splitlines()


def test_render_json_and_html() -> None:
    result = twcc_profiles("render", "--format=json")
    assert result.returncode == 0, result.stderr
    profiles = json.loads(result.stdout)
    assert profiles[1]["display_name"] == "PyTorch 21.11"
    assert list(profiles[1]["profile_options"]["size"]["choices"]) == [
        "c.super",
        "c.xsuper",
        "c.2xsuper",
        "c.4xsuper",
    ]
    html = twcc_profiles("render", "--locale=zh-TW")
    assert html.returncode == 0, html.stderr
    assert "<form" in html.stdout or "<select" in html.stdout
    assert "PyTorch 21.11" in html.stdout


def test_add_release_scaffolds_a_hidden_unverified_entry_keeping_comments(
    profiles_dir: Path,
) -> None:
    path = profiles_dir / "releases.yaml"
    before = path.read_text()
    result = twcc_profiles("add-release", "22.03", "--profiles-dir", profiles_dir)
    assert result.returncode == 0, result.stderr
    after = path.read_text()
    assert after.startswith(before[: before.index("releases:\n")])  # header comments kept
    block = after[after.index('  - release: "22.03"') : after.index('  - release: "22.02"')]
    assert after.replace(block, "") == before  # inserted as text, nothing else changed
    catalog = load_catalog(profiles_dir)
    added = catalog.release("22.03")
    assert catalog.releases[0] is added and added.hidden
    assert added.tag == "22.03-py3"
    assert added.source.endswith("/rel_22-03.html")
    assert added.unverified == {
        "pytorch",
        "cuda",
        "cudnn",
        "nccl",
        "python",
        "ubuntu",
        "driver",
        "architectures",
    }

    again = twcc_profiles("add-release", "22.03", "--profiles-dir", profiles_dir)
    assert again.returncode == 1
    assert again.stderr == "release 22.03 is already in releases.yaml\n"
    assert path.read_text() == after


@pytest.mark.parametrize("release", ["21.12", "17.01"])
def test_add_release_keeps_newest_first(shipped_profiles: Path, release: str) -> None:
    text = add_release((shipped_profiles / "releases.yaml").read_text(), release)
    order = [item["release"] for item in yaml.safe_load(text)["releases"]]
    assert order == sorted(order, reverse=True)


@pytest.mark.parametrize("release", ["2203", "22.13", "v22.03"])
def test_add_release_refuses_what_is_not_a_release(shipped_profiles: Path, release: str) -> None:
    with pytest.raises(ScaffoldError, match=r"expected YY\.MM"):
        add_release((shipped_profiles / "releases.yaml").read_text(), release)


def test_configmap_and_prepuller_are_schema_valid(tmp_path: Path) -> None:
    configmap = twcc_profiles("configmap", "--namespace=jhub")
    assert configmap.returncode == 0, configmap.stderr
    manifest = yaml.safe_load(configmap.stdout)
    kubernetes_validate.validate(manifest, latest_version(), strict=True)
    assert manifest["data"]["releases.yaml"] == (ROOT / "profiles/releases.yaml").read_text()

    config = tmp_path / "hub_config.py"
    config.write_text(
        "c = get_config()\n"
        "c.TWCCSpawner.image_registry = 'harbor.example.org/ngc/pytorch'\n"
        "c.TWCCSpawner.gpu_node_selector = {'twcc.ai/pool': 'v100'}\n"
    )
    prepuller = twcc_profiles("prepuller", f"--config={config}")
    assert prepuller.returncode == 0, prepuller.stderr
    daemonset = yaml.safe_load(prepuller.stdout)
    kubernetes_validate.validate(daemonset, latest_version(), strict=True)
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"twcc.ai/pool": "v100"}
    assert spec["initContainers"][0]["image"] == "harbor.example.org/ngc/pytorch:22.02-py3"


def test_shipped_generated_manifests_are_current() -> None:
    for command, file in (
        ("configmap", "profiles-configmap.yaml"),
        ("prepuller", "prepuller.yaml"),
    ):
        result = twcc_profiles(command, "--namespace=jhub", "--config=jupyterhub_config.py")
        assert result.returncode == 0, result.stderr
        shipped = (ROOT / "deploy/kubernetes" / file).read_text()
        assert shipped.split("---\n", 1)[-1] == result.stdout, f"regenerate {file}"


def test_idle_culler_service_and_role() -> None:
    service, role = idle_culler_service(timeout=1800, every=60, max_age=86400)
    assert service["name"] == role["services"][0] == "jupyterhub-idle-culler"
    assert service["command"][1:] == [
        "-m",
        "jupyterhub_idle_culler",
        "--timeout=1800",
        "--cull-every=60",
        "--concurrency=10",
        "--max-age=86400",
    ]
    assert set(role["scopes"]) == {
        "list:users",
        "read:users:activity",
        "read:servers",
        "delete:servers",
    }
