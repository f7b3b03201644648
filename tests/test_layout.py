"""The package layout keeps production code apart from the simulated cluster and the tools."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "twcc_spawner"
SEPARATE = ("twcc_spawner.simulated", "twcc_spawner.tools")


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports, relative imports resolved."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    package = package.removesuffix(".__init__")
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_production_modules_import_neither_the_simulated_cluster_nor_the_tools() -> None:
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).parts
        if relative[0] in {"simulated", "tools"}:
            continue
        bad = sorted(n for n in _imports(path) if n.startswith(SEPARATE))
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = bad
    assert offenders == {}


def test_the_simulated_cluster_is_imported_by_no_operator_tool() -> None:
    for path in (PACKAGE / "tools").rglob("*.py"):
        assert not any(n.startswith("twcc_spawner.simulated") for n in _imports(path)), path


def test_loading_the_twcc_entry_point_loads_neither() -> None:
    script = (
        "import json, sys\n"
        "from importlib.metadata import entry_points\n"
        "(ep,) = entry_points(group='jupyterhub.spawners', name='twcc')\n"
        "cls = ep.load()\n"
        "print(json.dumps([cls.__module__, sorted(sys.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    module, loaded = json.loads(out)
    assert module == "twcc_spawner.spawner"
    assert "twcc_spawner.preflight.spawner_mixin" in loaded
    assert [m for m in loaded if m.startswith(SEPARATE)] == []


def test_the_top_level_keeps_the_spawner_and_what_it_wires() -> None:
    modules = sorted(p.stem for p in PACKAGE.glob("*.py"))
    # the spawner and what it wires, with its start-up checks (startup, hub_checks) and
    # the refusal that works on JupyterHub 5 and 6 (refusal)
    assert len(modules) <= 19, modules
    assert {"spawner", "catalog", "selection", "podspec", "profiles", "form"} <= set(modules)
