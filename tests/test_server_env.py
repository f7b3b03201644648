"""The server-environment recipe: what can be checked without a container engine.

The image itself is built by images/server-env/build.sh; here its checker
(server_env.py, which the Dockerfile runs) verifies the emulator's stand-in,
built from this venv: layout, relocation and the JupyterHub version.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jupyterhub

from twcc_spawner.simulated.emulator.twcc_images import build_server_env

SCRIPT = Path(__file__).resolve().parent.parent / "images" / "server-env" / "server_env.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_the_stand_in_is_a_relocatable_server_environment(tmp_path: Path) -> None:
    env = tmp_path / "built" / "twcc-server-env"
    build_server_env(env)
    moved = tmp_path / "moved"
    env.rename(moved)  # the stand-in itself moves, as the init container's copy does
    result = run("verify", str(moved), "--jupyterhub", jupyterhub.__version__, "--glibc", "2.17")
    assert result.returncode == 0, result.stderr
    assert "relocatable JupyterHub" in result.stdout


def test_manifest_and_the_problems_verify_reports(tmp_path: Path) -> None:
    env = tmp_path / "env"
    build_server_env(env)
    result = run("manifest", str(env), "--jupyterhub", "5.2.1", "--kernel-support", "3.6")
    assert result.returncode == 0
    manifest = json.loads((env / "twcc-server-env.json").read_text())
    assert manifest["kernel_support"] == ["3.6"] and manifest["layout"] == 1
    (env / "bin" / "jupyterhub-singleuser").unlink()
    assert (
        "missing bin/jupyterhub-singleuser" in run("verify", str(env), "--jupyterhub", "5").stderr
    )
    build_server_env(tmp_path / "again")
    other_major = int(jupyterhub.__version__.split(".")[0]) + 1  # not the installed hub's
    run("manifest", str(tmp_path / "again"), "--jupyterhub", "5.2.1", "--kernel-support", "3.6")
    problems = run("verify", str(tmp_path / "again"), "--jupyterhub", f"{other_major}.0.0").stderr
    assert "kernel-support/python3.6 has no ipykernel" in problems
    assert f"JupyterHub {jupyterhub.__version__}, expected {other_major}.x" in problems


def test_glibc_baseline_scan(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("server_env", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "old.so").write_bytes(b"\x7fELF....GLIBC_2.2.5\0GLIBC_2.17\0")
    (tmp_path / "lib" / "notes.txt").write_bytes(b"GLIBC_2.99")  # not an ELF file
    assert module.required_glibc(tmp_path) == ((2, 17), tmp_path / "lib" / "old.so")
    (tmp_path / "lib" / "new.so").write_bytes(b"\x7fELF....GLIBC_2.28\0")
    assert module.required_glibc(tmp_path)[0] == (2, 28)
