"""The shipped deployment: Kubernetes manifests, Helm values, jupyterhub_config.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version
from traitlets.config import Config, PyFileConfigLoader

from twcc_spawner import HUB_TEMPLATES
from twcc_spawner.hub_checks import UnsafeHubConfig

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


def test_rbac_ships_only_what_the_chart_lacks() -> None:
    documents = {
        d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/rbac.yaml").read_text())
    }
    # the chart owns the ServiceAccount and the namespaced hub Role (tests/z2jh)
    assert set(documents) == {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    (rule,) = documents["ClusterRole"]["rules"]
    assert set(rule["resources"]) == {"nodes", "pods"}
    assert set(rule["verbs"]) == {"get", "list", "watch"}
    (rule,) = documents["Role"]["rules"]
    assert (rule["resources"], rule["verbs"]) == (["pods/log"], ["get"])
    for binding in (documents["ClusterRoleBinding"], documents["RoleBinding"]):
        (subject,) = binding["subjects"]
        assert (subject["kind"], subject["name"], subject["namespace"]) == (
            "ServiceAccount",
            "hub",
            "jhub",
        )


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
    mount = doc["hub"]["extraVolumeMounts"][0]
    assert mount["mountPath"] == doc["hub"]["config"]["TWCCSpawner"]["profiles_dir"]
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


def test_jupyterhub_config_refuses_the_dummy_authenticator(monkeypatch) -> None:
    source = (ROOT / "jupyterhub_config.py").read_text()
    source = source.replace(
        "refuse_dummy_authenticator(c)",
        'c.JupyterHub.authenticator_class = "dummy"\nrefuse_dummy_authenticator(c)',
    )
    with pytest.raises(UnsafeHubConfig, match="'dummy' \\(DummyAuthenticator\\)"):
        run_config(source, "jupyterhub_config.py", {}, monkeypatch)
    c = run_config((ROOT / "jupyterhub_config.py").read_text(), "x", {}, monkeypatch)
    assert c.JupyterHub.template_paths == [HUB_TEMPLATES]
