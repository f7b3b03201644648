"""The Zero-to-JupyterHub chart rendered by Helm's own library, and its hub pod staged.

Tests read what Helm rendered (:func:`render`), never a retyped chart field. The
chart is ``../shared/z2jh/jupyterhub`` beside the clone; outside CI the
environment variable ``TWCC_Z2JH_CHART`` may point elsewhere. Without it the
tests fail saying where to get it.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
RBAC = ROOT / "deploy" / "kubernetes" / "rbac.yaml"
DEFAULT_CHART = ROOT.parent / "shared" / "z2jh" / "jupyterhub"
RELEASE = "jhub"
NAMESPACE = "jhub"
#: Where the hub Deployment mounts its ConfigMap and Secret (the chart's own paths).
HUB_ETC = "/usr/local/etc/jupyterhub"

Obj = dict[str, Any]


def chart_dir() -> Path:
    """The chart's directory; the test fails (never skips) if it is not there."""
    configured = None if os.environ.get("CI") else os.environ.get("TWCC_Z2JH_CHART")
    chart = Path(configured) if configured else DEFAULT_CHART
    if not (chart / "Chart.yaml").is_file():
        pytest.fail(
            f"The Zero-to-JupyterHub chart 4.4.0 is not at {chart}. Put the shared folder "
            f"(with z2jh/jupyterhub) beside the clone, or set TWCC_Z2JH_CHART to the chart "
            "directory: the `jupyterhub/` folder of github.com/jupyterhub/"
            "zero-to-jupyterhub-k8s at tag 4.4.0, with its version stamped."
        )
    return chart


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, recursively, as Helm merges ``--values`` files."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def our_values(*overlays: Mapping[str, Any]) -> dict[str, Any]:
    """``deploy/helm/values.yaml`` with site values files on top."""
    values: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    for overlay in overlays:
        values = merge(values, overlay)
    return values


def render(values: Mapping[str, Any]) -> list[Obj]:
    """Every object the chart renders for ``values`` (release jhub in namespace jhub)."""
    from helm_python.chart import Chart

    chart = Chart.load(chart_dir())
    files = chart.render(values=dict(values), name=RELEASE, namespace=NAMESPACE)
    return [
        doc
        for name, text in sorted(files.items())
        if name.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def find(objects: Iterable[Obj], kind: str, name: str) -> Obj:
    """The one rendered object of ``kind`` named ``name``."""
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def manifests(path: Path) -> list[Obj]:
    """The objects of a YAML file of ours."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def secret_data(secret: Obj) -> dict[str, str]:
    """A Secret's data, decoded as the kubelet writes it into a volume."""
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return {**data, **(secret.get("stringData") or {})}


def hub_container(objects: Iterable[Obj]) -> Obj:
    deployment = find(objects, "Deployment", "hub")
    return next(
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "hub"
    )


def service_environment(objects: Iterable[Obj], host: str = "127.0.0.1") -> dict[str, str]:
    """The ``<NAME>_SERVICE_HOST/_PORT`` variables Kubernetes gives a pod for each Service."""
    env: dict[str, str] = {}
    for service in (o for o in objects if o["kind"] == "Service"):
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        ports = service["spec"]["ports"]
        env[f"{prefix}_SERVICE_HOST"] = host
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                name = port["name"].upper().replace("-", "_")
                env[f"{prefix}_SERVICE_PORT_{name}"] = str(port["port"])
    return env


def container_environment(
    container: Obj, objects: Iterable[Obj], namespace: str = NAMESPACE
) -> dict[str, str]:
    """A container's ``env`` resolved as the kubelet does (field and Secret references)."""
    objects = list(objects)
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = expand(str(var["value"]), env)
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            assert path == "metadata.namespace", f"unsupported field {path}"
            env[var["name"]] = namespace
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[var["name"]] = secret_data(find(objects, "Secret", ref["name"]))[ref["key"]]
        else:
            raise AssertionError(f"unsupported env source {source}")
    return env


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in commands, args and env values."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), text)


def stage_hub_etc(objects: Iterable[Obj], target: Path) -> Path:
    """The hub's ``/usr/local/etc/jupyterhub`` as its Deployment mounts it, under ``target``.

    The ConfigMap's keys go in ``config/`` and its two subPath mounts beside it, the
    Secret's keys in ``secret/``, each at the mountPath the rendered Deployment gives.
    """
    objects = list(objects)
    deployment = find(objects, "Deployment", "hub")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for mount in hub_container(objects)["volumeMounts"]:
        path = mount["mountPath"]
        if not path.startswith(HUB_ETC):
            continue
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            data = find(objects, "ConfigMap", volume["configMap"]["name"])["data"]
        else:
            data = secret_data(find(objects, "Secret", volume["secret"]["secretName"]))
        local = target / path.removeprefix(HUB_ETC).strip("/")
        if "subPath" in mount:
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(data[mount["subPath"]])
        else:
            local.mkdir(parents=True, exist_ok=True)
            for key, value in data.items():
                (local / key).write_text(value)
    return target


def iter_rules(objects: Iterable[Obj]) -> Iterator[tuple[str, Obj]]:
    """``(kind, rule)`` of every Role and ClusterRole in ``objects``."""
    for obj in objects:
        if obj["kind"] in ("Role", "ClusterRole"):
            for rule in obj.get("rules") or []:
                yield obj["kind"], rule
