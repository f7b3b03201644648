"""twcc-spawner as installed from a wheel, and a hub's start-up with its own config file.

"Done means" of issue 14: a wheel built from a clean clone, installed in a fresh
virtual environment, serves the 15 releases with only
``c.JupyterHub.spawner_class = "twcc"`` in the config file, run from another
directory. The command line adds only what every test hub needs on a shared
machine: loopback addresses, free ports and a login.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from twcc_spawner.simulated.emulator.emulator import ThreadedEmulator
from twcc_spawner.simulated.hub_settings import free_port
from twcc_spawner.simulated.local_hub import ChildProcess, wait_for_http

from .conftest import ROOT
from .reliability import browser_login

pytestmark = pytest.mark.e2e

PASSWORD = "packaged-hub-password"
ONLY_THE_SPAWNER = 'c.JupyterHub.spawner_class = "twcc"\n'


def hub_command(jupyterhub: list[str], config: Path, port: int) -> list[str]:
    return [
        *jupyterhub,
        "-f",
        str(config),
        "--ip=127.0.0.1",
        f"--port={port}",
        "--JupyterHub.hub_ip=127.0.0.1",
        f"--JupyterHub.hub_port={free_port()}",
        f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}",
        "--JupyterHub.authenticator_class=shared-password",
        f"--SharedPasswordAuthenticator.user_password={PASSWORD}",
        "--SharedPasswordAuthenticator.allow_all=True",
    ]


def hub_env(kubeconfig: Path) -> dict[str, str]:
    """The proxy from the project's node_modules, the emulator's kubeconfig."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{env['PATH']}"
    return env | {"KUBECONFIG": str(kubeconfig)}


@pytest.fixture
def run_hub(emulator: ThreadedEmulator, tmp_path: Path) -> Iterator[object]:
    """Start a hub (``jupyterhub`` argv, config file, working directory); stopped after."""
    kubeconfig = tmp_path / "kubeconfig"
    emulator.write_kubeconfig(kubeconfig)
    started: list[ChildProcess] = []

    def run(jupyterhub: list[str], config: Path, cwd: Path) -> tuple[ChildProcess, str]:
        port = free_port()
        child = ChildProcess(
            "jupyterhub",
            hub_command(jupyterhub, config, port),
            hub_env(kubeconfig),
            log=cwd / "hub.log",
            cwd=cwd,
        )
        started.append(child)
        child.start()
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/hub/api/", child, timeout=120)
        return child, url

    yield run
    for child in started:
        child.stop()
        print(f"--- {child.log} ---\n{child.log_tail(100)}")


def form_releases(url: str) -> list[str]:
    """The releases the spawn form offers to a user who just logged in."""
    session = browser_login(url, "alice", PASSWORD)
    form = session.get(f"{url}/hub/spawn", timeout=60)
    assert form.status_code == 200, form.text[:500]
    menu = re.search(r'<select id="twcc-release".*?</select>', form.text, re.S)
    assert menu, form.text[:2000]
    return re.findall(r'<option value="([0-9.]+)"', menu.group(0))


def test_a_wheel_from_a_clean_clone_serves_the_15_releases_from_anywhere(
    run_hub, tmp_path: Path
) -> None:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", commit], check=True)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(clone)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("twcc_spawner-*.whl")
    shutil.rmtree(clone)  # nothing of the source tree is left to find

    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    subprocess.run(
        [env / "bin" / "python", "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        timeout=900,
    )
    config_dir, elsewhere = tmp_path / "etc", tmp_path / "run"
    config_dir.mkdir()
    elsewhere.mkdir()
    (config_dir / "jupyterhub_config.py").write_text(ONLY_THE_SPAWNER)

    _, url = run_hub(
        [str(env / "bin" / "jupyterhub")], config_dir / "jupyterhub_config.py", elsewhere
    )
    releases = form_releases(url)
    assert len(releases) == 15, releases
    assert releases[0] == "22.02" and releases[-1] == "18.08"


def test_a_relative_profiles_dir_is_found_beside_the_config_file(run_hub, tmp_path: Path) -> None:
    config_dir, elsewhere = tmp_path / "etc", tmp_path / "run"
    shutil.copytree(ROOT / "profiles", config_dir / "catalog")
    releases = config_dir / "catalog" / "releases.yaml"
    releases.write_text(
        releases.read_text().replace("tag: 18.08-py3-v1\n", "tag: 18.08-py3-v1\n    hidden: true\n")
    )
    elsewhere.mkdir()
    config = config_dir / "jupyterhub_config.py"
    config.write_text(ONLY_THE_SPAWNER + 'c.TWCCSpawner.profiles_dir = "catalog"\n')

    _, url = run_hub([sys.executable, "-m", "jupyterhub"], config, elsewhere)
    assert "18.08" not in form_releases(url)  # the copy beside the config file, 14 releases


def test_a_broken_configuration_stops_the_hub_at_start_up_naming_each_setting(
    tmp_path: Path,
) -> None:
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(
        ONLY_THE_SPAWNER
        + 'c.TWCCSpawner.profiles_dir = "missing"\n'
        + 'c.KubeSpawner.init_containers = [{"name": "side", "image": "busybox",\n'
        + '    "securityContext": {"privileged": True}}]\n'
        + 'c.KubeSpawner.extra_pod_config = {"hostNetwork": True}\n'
    )
    result = subprocess.run(
        hub_command([sys.executable, "-m", "jupyterhub"], config, free_port()),
        cwd=tmp_path,
        env=hub_env(tmp_path / "no-kubeconfig"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "TWCCSpawner cannot start any server with this configuration" in result.stderr
    for problem in (
        f"profiles_dir: {tmp_path / 'missing'} is not a directory",
        "init_containers: container 'side' is privileged",
        "extra_pod_config: hostNetwork is set",
    ):
        assert problem in result.stderr
    assert "Starting proxy" not in result.stderr  # refused before serving anything
