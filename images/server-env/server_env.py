"""Write and verify the manifest of a twcc-spawner server environment (stdlib only).

    python3 server_env.py manifest ENV --jupyterhub 6.1.1 --glibc 2.17 [--kernel-support 3.6]
    python3 server_env.py verify ENV --jupyterhub 6.1.1 [--glibc 2.17]

``verify`` checks what the pods rely on: the layout (``bin/python3``,
``bin/jupyterhub-singleuser``, the manifest), that a *copy* of the environment
at another path runs JupyterHub of the expected major version from that path
(relocation: the init container copies it into an emptyDir), and that no ELF
file needs a newer glibc than the baseline (the Ubuntu 16.04 images have 2.23).
The Dockerfile runs both; the tests run ``verify`` on the emulator's stand-in.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MANIFEST = "twcc-server-env.json"
LAYOUT = 1
_GLIBC = re.compile(rb"GLIBC_(\d+)\.(\d+)")
_ELF = b"\x7fELF"


def required_glibc(env):
    """The newest ``GLIBC_x.y`` symbol version any ELF file under ``env`` needs, and where."""
    newest, where = (0, 0), None
    for path in env.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as f:
            if f.read(4) != _ELF:
                continue
            data = f.read()
        for match in _GLIBC.finditer(data):
            version = (int(match.group(1)), int(match.group(2)))
            if version > newest:
                newest, where = version, path
    return newest, where


def _version(text):
    return tuple(int(part) for part in text.split("."))


def write_manifest(env, jupyterhub, glibc, kernel_support):
    manifest = {
        "layout": LAYOUT,
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "jupyterhub": jupyterhub,
        "glibc_baseline": glibc,
        "kernel_support": kernel_support,
    }
    (env / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def verify(env, jupyterhub, glibc):
    """Problems found in the environment at ``env`` (empty: it is fine)."""
    problems = []
    for part in ("bin/python3", "bin/jupyterhub-singleuser", MANIFEST):
        if not (env / part).exists():
            problems.append(f"missing {part}")
    if problems:
        return problems
    manifest = json.loads((env / MANIFEST).read_text())
    if manifest.get("layout") != LAYOUT:
        problems.append(f"manifest layout {manifest.get('layout')!r}, expected {LAYOUT}")
    for version in manifest.get("kernel_support", []):
        if not (env / "kernel-support" / ("python" + version) / "ipykernel").is_dir():
            problems.append(f"kernel-support/python{version} has no ipykernel")

    with tempfile.TemporaryDirectory() as scratch:
        moved = Path(scratch) / "elsewhere" / "server-env"
        shutil.copytree(str(env), str(moved), symlinks=True)
        probe = subprocess.run(
            [
                str(moved / "bin" / "python3"),
                "-c",
                "import sys, jupyterhub, jupyterlab; print(jupyterhub.__version__); "
                "print(sys.prefix)",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = probe.stdout.split()
        if probe.returncode != 0 or len(lines) < 2:
            problems.append(f"a moved copy does not run: {probe.stdout.strip()[-500:]}")
        else:
            found, prefix = lines[-2], lines[-1]
            if found.split(".")[0] != jupyterhub.split(".")[0]:
                problems.append(f"JupyterHub {found}, expected {jupyterhub.split('.')[0]}.x")
            if Path(prefix).resolve() != moved.resolve():
                problems.append(f"a moved copy still runs from {prefix}")
        server = subprocess.run(
            [str(moved / "bin" / "python3"), str(moved / "bin" / "jupyterhub-singleuser"), "-h"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if server.returncode != 0:
            problems.append(f"jupyterhub-singleuser does not run: {server.stdout[-500:]}")

    if glibc:
        newest, where = required_glibc(env)
        if newest > _version(glibc):
            problems.append(f"{where} needs glibc {newest[0]}.{newest[1]}, newer than {glibc}")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["manifest", "verify"])
    parser.add_argument("env", type=Path, help="the server environment, e.g. /opt/twcc-server-env")
    parser.add_argument("--jupyterhub", required=True, help="the hub's JupyterHub version")
    parser.add_argument("--glibc", help="the oldest glibc it must run on, e.g. 2.17")
    parser.add_argument(
        "--kernel-support", action="append", default=[], help="a Python version, e.g. 3.6"
    )
    args = parser.parse_args(argv)
    if args.command == "manifest":
        write_manifest(args.env, args.jupyterhub, args.glibc, args.kernel_support)
        return 0
    problems = verify(args.env, args.jupyterhub, args.glibc)
    for problem in problems:
        print(f"server-env: {problem}", file=sys.stderr)
    if not problems:
        print(f"server-env: {args.env} is a relocatable JupyterHub {args.jupyterhub} environment")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
