"""The shipped deployment: Kubernetes manifests, Helm values, jupyterhub_config.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version
from traitlets.config import Config, PyFileConfigLoader

from twcc_spawner.tools.manifests import idle_culler_service

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = sorted((ROOT / "deploy/kubernetes").glob("*.yaml"))

# Top-level sections of the Zero-to-JupyterHub chart's values.schema.yaml, and
# the keys of its `hub` section that these values use.
CHART_SECTIONS = {
    "fullnameOverride",
    "nameOverride",
    "enabled",
    "imagePullSecrets",
    "hub",
    "rbac",
    "proxy",
    "singleuser",
    "scheduling",
    "prePuller",
    "ingress",
    "cull",
    "debug",
    "global",
    "custom",
}
HUB_KEYS = {
    "image",
    "extraEnv",
    "extraVolumes",
    "extraVolumeMounts",
    "extraConfig",
    "extraFiles",
    "config",
    "db",
    "resources",
    "nodeSelector",
    "tolerations",
    "serviceAccount",
}


def test_every_manifest_is_schema_valid() -> None:
    assert {m.name for m in MANIFESTS} == {
        "rbac.yaml",
        "profiles-configmap.yaml",
        "prepuller.yaml",
    }
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                kubernetes_validate.validate(document, latest_version(), strict=True)


def test_rbac_grants_what_kubespawner_and_the_capacity_checks_use() -> None:
    documents = {
        d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/rbac.yaml").read_text())
    }
    granted = {
        (resource, verb)
        for rule in documents["Role"]["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    for resource in ("pods", "persistentvolumeclaims", "services", "secrets"):
        assert {(resource, v) for v in ("get", "list", "watch", "create", "delete")} <= granted
    assert {("events", v) for v in ("get", "list", "watch")} <= granted
    assert ("configmaps", "get") in granted
    (rule,) = documents["ClusterRole"]["rules"]
    assert set(rule["resources"]) == {"nodes", "pods"}
    assert set(rule["verbs"]) == {"get", "list", "watch"}
    subject = documents["ClusterRoleBinding"]["subjects"][0]
    assert (subject["name"], subject["namespace"]) == ("hub", "jhub")


def values() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy/helm/values.yaml").read_text())


def run_config(source: str, filename: str, env: dict[str, str], monkeypatch) -> Config:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    c = Config()
    exec(compile(source, filename, "exec"), {"c": c, "get_config": lambda: c})
    return c


def test_helm_values_fit_the_chart() -> None:
    doc = values()
    assert set(doc) <= CHART_SECTIONS
    assert set(doc["hub"]) <= HUB_KEYS
    assert doc["cull"] == {"enabled": False}  # the culler comes from twcc_spawner.tools.manifests
    mount = doc["hub"]["extraVolumeMounts"][0]
    assert mount["mountPath"] == doc["hub"]["extraEnv"]["TWCC_PROFILES_DIR"]
    (volume,) = (v for v in doc["hub"]["extraVolumes"] if v["name"] == mount["name"])
    configmap = yaml.safe_load_all((ROOT / "deploy/kubernetes/profiles-configmap.yaml").read_text())
    assert volume["configMap"]["name"] == next(d for d in configmap if d)["metadata"]["name"]
    for item in doc["hub"]["extraVolumes"]:
        kubernetes_validate.validate(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "hub"},
                "spec": {
                    "containers": [
                        {
                            "name": "hub",
                            "image": "hub",
                            "volumeMounts": doc["hub"]["extraVolumeMounts"],
                        }
                    ],
                    "volumes": [item],
                },
            },
            latest_version(),
            strict=True,
        )


def test_helm_extra_config_sets_the_spawner_and_the_culler(monkeypatch) -> None:
    doc = values()
    c = run_config(
        doc["hub"]["extraConfig"]["twcc-spawner"],
        "extraConfig",
        doc["hub"]["extraEnv"],
        monkeypatch,
    )
    assert c.JupyterHub.spawner_class == "twcc"
    assert c.TWCCSpawner.profiles_dir == "/usr/local/etc/twcc/profiles"
    service, role = idle_culler_service(timeout=3600, every=300)
    assert c.JupyterHub.services.get_value([]) == [service]
    assert c.JupyterHub.load_roles.get_value([]) == [role]


def test_jupyterhub_config_takes_the_profiles_dir_from_the_environment(monkeypatch) -> None:
    source = (ROOT / "jupyterhub_config.py").read_text()
    c = run_config(source, "jupyterhub_config.py", {"TWCC_PROFILES_DIR": "/etc/twcc"}, monkeypatch)
    assert c.TWCCSpawner.profiles_dir == "/etc/twcc"


@pytest.mark.parametrize(
    ("env", "culled"),
    [({}, True), ({"TWCC_CULL_TIMEOUT": "0"}, False)],
    ids=["default", "no-culling"],
)
def test_jupyterhub_config_for_a_cluster(monkeypatch, env: dict[str, str], culled: bool) -> None:
    monkeypatch.delenv("TWCC_CULL_TIMEOUT", raising=False)
    monkeypatch.delenv("TWCC_PROFILES_DIR", raising=False)
    source = (ROOT / "jupyterhub_config.py").read_text()
    c = run_config(source, "jupyterhub_config.py", env, monkeypatch)
    assert c.JupyterHub.spawner_class == "twcc"
    assert "profiles_dir" not in c.TWCCSpawner  # unset: the catalog shipped in the package
    services = c.JupyterHub.services.get_value([]) if "services" in c.JupyterHub else []
    assert [s["name"] for s in services] == (["jupyterhub-idle-culler"] if culled else [])


def test_jupyterhub_config_loads_as_a_config_file() -> None:
    config = PyFileConfigLoader("jupyterhub_config.py", path=str(ROOT)).load_config()
    assert config.TWCCSpawner.gpu_node_selector == {"nvidia.com/gpu.present": "true"}
