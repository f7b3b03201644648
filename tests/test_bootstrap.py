"""The bootstrap in the pod: init container, volumes, command, env and storage (no I/O)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jupyterhub
import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_validate.utils import latest_version

from twcc_spawner.bootstrap import start_script
from twcc_spawner.bootstrap.container import kubelet_escape
from twcc_spawner.simulated.emulator.environment import expand

K8S_VERSION = latest_version()


async def pod_for(make_spawner, release: str, **config: Any) -> dict[str, Any]:
    spawner = make_spawner(user_options={"release": release, "gpus": 2}, **config)
    await spawner.load_user_options()
    pod = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    return pod


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container["env"]}


@pytest.mark.parametrize(
    "release, driver_minimum, datacenter",
    [("18.08", "384", ""), ("22.02", "510", "418.40 440.33 450.51 460.27 470.57")],
    ids=["oldest", "newest"],
)
async def test_server_env_bootstrap(make_spawner, release, driver_minimum, datacenter) -> None:
    pod = await pod_for(make_spawner, release, server_env_image="harbor.example.org/twcc/se:6")
    (init,) = pod["spec"]["initContainers"]
    assert init["name"] == "twcc-server-env"
    assert init["image"] == "harbor.example.org/twcc/se:6"
    assert init["command"] == ["cp", "-a", "/opt/twcc-server-env/.", "/opt/twcc/server-env"]
    assert init["volumeMounts"] == [{"name": "twcc-bootstrap", "mountPath": "/opt/twcc"}]
    assert init["resources"]["limits"] == init["resources"]["requests"]  # keeps Guaranteed QoS
    assert {"name": "twcc-bootstrap", "emptyDir": {}} in pod["spec"]["volumes"]

    notebook = pod["spec"]["containers"][0]
    assert notebook["command"][:2] == ["/bin/sh", "-c"]
    assert notebook["command"][3] == "twcc-start"
    assert notebook["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert {"name": "twcc-bootstrap", "mountPath": "/opt/twcc"} in notebook["volumeMounts"]
    env = env_of(notebook)
    assert env["TWCC_SERVER_STRATEGY"] == "server-env"
    assert env["TWCC_BOOTSTRAP_DIR"] == "/opt/twcc"
    assert env["TWCC_IMAGE_PYTHON"] == "/opt/conda/bin/python"
    assert env["TWCC_HUB_VERSION"] == jupyterhub.__version__
    assert (env["TWCC_DRIVER_MINIMUM"], env["TWCC_DRIVER_DATACENTER"]) == (
        driver_minimum,
        datacenter,
    )
    assert (env["TWCC_GPUS"], env["TWCC_SHM_SIZE"], env["TWCC_PREFLIGHT"]) == ("2", "32G", "1")
    assert env["TWCC_TERMINATION_LOG"] == notebook["terminationMessagePath"]


async def test_the_script_reaches_the_shell_unchanged_after_kubelet_expansion(
    make_spawner,
) -> None:
    pod = await pod_for(make_spawner, "21.11")
    notebook = pod["spec"]["containers"][0]
    env = env_of(notebook)
    assert expand(notebook["command"][2], env) == start_script()
    tricky = "echo $$ $(TWCC_GPUS) $$(TWCC_GPUS) $(date +%s) ${HOME} $"
    assert expand(kubelet_escape(tricky), env) == tricky


async def test_derived_image_per_release_has_no_init_container(make_spawner) -> None:
    config = {"server_strategy_overrides": {"22.02": "derived-image"}, "args": ["--debug"]}
    derived = await pod_for(make_spawner, "22.02", **config)
    assert "initContainers" not in derived["spec"]
    notebook = derived["spec"]["containers"][0]
    assert notebook["args"] == ["--debug"]
    assert env_of(notebook)["TWCC_SERVER_STRATEGY"] == "derived-image"
    assert "TWCC_BOOTSTRAP_DIR" not in env_of(notebook)
    # the emptyDir still holds the ready marker
    assert env_of(notebook)["TWCC_READY_FILE"] == "/opt/twcc/ready"
    assert {"name": "twcc-bootstrap", "mountPath": "/opt/twcc"} in notebook["volumeMounts"]
    other = await pod_for(make_spawner, "21.11", **config)
    assert other["spec"]["initContainers"][0]["name"] == "twcc-server-env"


async def test_home_and_work_volumes(make_spawner) -> None:
    pod = await pod_for(
        make_spawner,
        "21.11",
        work_volume={"persistentVolumeClaim": {"claimName": "twcc-work"}},
    )
    notebook = pod["spec"]["containers"][0]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["twcc-home"]["persistentVolumeClaim"] == {"claimName": "claim-alice"}
    assert volumes["twcc-work"]["persistentVolumeClaim"] == {"claimName": "twcc-work"}
    assert {"name": "twcc-home", "mountPath": "/home/alice"} in notebook["volumeMounts"]
    assert {"name": "twcc-work", "mountPath": "/work/alice", "subPath": "alice"} in notebook[
        "volumeMounts"
    ]
    assert not any(m["mountPath"] == "/workspace" for m in notebook["volumeMounts"])
    env = env_of(notebook)
    assert env["HOME"] == env["JUPYTERHUB_ROOT_DIR"] == "/home/alice"


async def test_storage_defaults_and_opting_out(make_spawner) -> None:
    spawner = make_spawner()
    assert (spawner.storage_pvc_ensure, spawner.storage_capacity) == (True, "100Gi")
    pod = await pod_for(make_spawner, "21.11", home_mount_path="", notebook_dir="/workspace")
    notebook = pod["spec"]["containers"][0]
    assert "twcc-home" not in {v["name"] for v in pod["spec"]["volumes"]}
    assert "HOME" not in env_of(notebook)
    assert env_of(notebook)["JUPYTERHUB_ROOT_DIR"] == "/workspace"


def run_script(
    function: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Call one shell function of the start script (its definitions, not its main part)."""
    definitions = start_script().split('\nsay "starting', 1)[0]
    with tempfile.TemporaryDirectory() as bootstrap:  # the pod's emptyDir: a failure's mark
        return subprocess.run(
            ["sh", "-c", f'{definitions}\n{function} "$@"', "twcc-start", *args],
            capture_output=True,
            text=True,
            check=False,
            env={**(env or os.environ), "TWCC_READY_FILE": f"{bootstrap}/ready"},
        )


@pytest.mark.parametrize("margin_kib, fits", [(-1024, True), (1024, False)])
def test_the_dev_shm_check_measures_the_real_dev_shm_with_df(
    tmp_path: Path, margin_kib: int, fits: bool
) -> None:
    """The script asks ``df`` for the size of this machine's /dev/shm and compares it
    with the size's promise."""
    vfs = os.statvfs("/dev/shm")
    have_kib = vfs.f_blocks * vfs.f_frsize // 1024
    need = f"{(have_kib + margin_kib) * 1024}"
    env = dict(os.environ)
    env.update(
        TWCC_SHM_SIZE=need,
        TWCC_SELECTION="PyTorch 22.02 / 1 GPU",
        TWCC_TERMINATION_LOG=str(tmp_path / "termination-log"),
    )
    result = run_script("check_shm", env=env)
    if fits:
        assert result.returncode == 0, result.stdout
        assert (
            result.stdout
            == f"twcc-start: [3/4] /dev/shm: {have_kib // 1024} MiB, at least {need}\n"
        )
    else:
        line = (
            f"/dev/shm is {have_kib // 1024} MiB but PyTorch 22.02 / 1 GPU needs {need} "
            "(PyTorch DataLoader workers use it)"
        )
        assert result.returncode == 1
        assert result.stdout == f"twcc-start: FAILED: {line}\n"
        assert (tmp_path / "termination-log").read_text() == line + "\n"


@pytest.mark.parametrize(
    "driver, supported",
    [
        ("510.47.03", True),
        ("525.60.13", True),
        ("470.57.02", True),
        ("470.42.01", False),
        ("465.19.01", False),
        ("418.40.04", True),
        ("418.39", False),
    ],
)
def test_driver_rule(driver: str, supported: bool) -> None:
    result = run_script("driver_supported", driver, "510", "418.40 440.33 450.51 460.27 470.57")
    assert (result.returncode == 0) is supported


@pytest.mark.parametrize(
    "quantity, kib",
    [("16G", "15625000"), ("30Gi", "31457280"), ("64Mi", "65536"), ("1024", "1")],
)
def test_quantity_in_kib(quantity: str, kib: str) -> None:
    assert run_script("kib", quantity).stdout.strip() == kib


def test_not_a_quantity() -> None:
    assert run_script("kib", "lots").returncode != 0


async def test_the_pod_is_ready_only_once_the_start_script_marks_it_and_never_restarts(
    make_spawner,
) -> None:
    pod = await pod_for(make_spawner, "21.11")
    notebook = pod["spec"]["containers"][0]
    probe = notebook["readinessProbe"]
    assert probe["exec"] == {"command": ["/bin/sh", "-c", 'test -e "$TWCC_READY_FILE"']}
    assert env_of(notebook)["TWCC_READY_FILE"] == "/opt/twcc/ready"
    assert pod["spec"]["restartPolicy"] == "Never"


def run_start(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The whole script on this machine, for a derived image whose server exits at once:
    its result and its termination message."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    server = bin_dir / "jupyterhub-singleuser"
    server.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 2\n")
    server.chmod(0o755)
    log = tmp_path / "termination-log"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "TWCC_SERVER_STRATEGY": "derived-image",
        "TWCC_PREFLIGHT": "0",
        "TWCC_IMAGE_PYTHON": sys.executable,
        "TWCC_READY_FILE": str(tmp_path / "ready"),
        "TWCC_TERMINATION_LOG": str(log),
        "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:9/user/alice/",
        **env,
    }
    result = subprocess.run(
        ["sh", "-c", start_script(), "twcc-start"], env=env, capture_output=True, text=True
    )
    assert not (tmp_path / "ready").exists()
    return result, log.read_text()


def test_a_server_that_exits_before_it_answers_ends_the_start_with_that(tmp_path: Path) -> None:
    result, message = run_start(tmp_path)
    assert result.returncode == 1, result
    assert "cannot start" in result.stderr
    assert message == (
        "The Jupyter server exited with status 2 before it answered (its log is above)\n"
    )


def test_an_image_without_the_configured_python_fails_before_the_server_starts(
    tmp_path: Path,
) -> None:
    result, message = run_start(tmp_path, TWCC_IMAGE_PYTHON="/opt/conda/bin/python-missing")
    assert result.returncode == 1, result
    assert "cannot start" not in result.stderr  # the server never ran
    assert message == (
        "The image has no Python at /opt/conda/bin/python-missing: "
        "set the spawner's image_python to the image's own\n"
    )
