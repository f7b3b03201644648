"""Our values, RBAC, hub image and pre-puller against the chart as Helm renders it."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from twcc_spawner.tools.cli import helm_spawner_settings

from . import chart
from .hub_pod import hub_argv, z2jh_bin

DOCKERFILE = chart.ROOT / "deploy" / "hub-image" / "Dockerfile"
INSTALL = chart.ROOT / "deploy" / "hub-image" / "install.sh"
METADATA_PORT = 80  # the cloud metadata server's HTTP port


def egress_allowed(policy: chart.Obj, ip: str, port: int) -> bool:
    """Whether a NetworkPolicy's egress rules let a pod reach ``ip:port`` (an address
    outside the cluster: pod and namespace selectors never match it)."""
    address = ipaddress.ip_address(ip)

    def peer_matches(peer: chart.Obj) -> bool:
        block = peer.get("ipBlock")
        if block is None:
            return False
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )

    def port_matches(rule: chart.Obj) -> bool:
        ports = rule.get("ports")
        return not ports or any(p.get("port") == port for p in ports)

    return any(
        port_matches(rule) and ("to" not in rule or any(peer_matches(p) for p in rule["to"]))
        for rule in policy["spec"]["egress"]
    )


def test_user_pods_are_denied_the_cloud_metadata_server_without_a_privileged_container() -> None:
    defaults = yaml.safe_load((chart.chart_dir() / "values.yaml").read_text())
    metadata_ip = defaults["singleuser"]["cloudMetadata"]["ip"]
    values = chart.our_values()
    assert values["singleuser"]["cloudMetadata"]["blockWithIptables"] is False
    policy = chart.find(chart.render(values), "NetworkPolicy", "singleuser")
    assert not egress_allowed(policy, metadata_ip, METADATA_PORT)
    assert egress_allowed(policy, "93.184.216.34", 443)  # the internet stays reachable


def show_config(tmp_path: Path, *overlays: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``jupyterhub --show-config-json`` of the chart's own config, as the hub pod loads it."""
    objects = chart.render(chart.our_values(*overlays))
    env = {
        **chart.service_environment(objects),
        **chart.container_environment(chart.hub_container(objects), objects),
        "PATH": f"{z2jh_bin()}:/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    argv = hub_argv(objects, tmp_path, {}, "--config", f"{chart.HUB_ETC}/jupyterhub_config.py")
    # the profiles ConfigMap where the values mount it, as in the hub pod
    shutil.copytree(chart.ROOT / "profiles", tmp_path / "usr-local-etc" / "twcc" / "profiles")
    return subprocess.run(
        [*argv, "--show-config-json"], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_charts_hub_config_with_our_values(tmp_path: Path) -> None:
    shown = show_config(tmp_path)
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout[shown.stdout.index("\n{") :])  # after the chart's prints
    hub = config["JupyterHub"]
    (culler,) = (s for s in hub["services"] if s["name"] == "jupyterhub-idle-culler")
    assert "--url=http://localhost:8081/hub/api" in culler["command"]
    assert hub["authenticator_class"] == "generic-oauth"
    assert config["GenericOAuthenticator"]["manage_groups"] is True
    templates = subprocess.run(
        [z2jh_bin() / "python", "-c", "import twcc_spawner; print(twcc_spawner.HUB_TEMPLATES)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert hub["template_paths"][0] == templates
    spawner = config["KubeSpawner"]
    assert spawner["init_containers"] == []  # no privileged block-cloud-metadata
    assert spawner["volumes"] == {} and spawner["volume_mounts"] == {}  # home: TWCCSpawner's
    assert "storage_capacity" not in spawner  # TWCC's 100Gi (TWCCSpawner's default)


def test_the_hub_refuses_to_start_with_the_charts_dummy_authenticator(tmp_path: Path) -> None:
    defaults = yaml.safe_load((chart.chart_dir() / "values.yaml").read_text())
    chart_default = defaults["hub"]["config"]["JupyterHub"]["authenticator_class"]
    site = {"hub": {"config": {"JupyterHub": {"authenticator_class": chart_default}}}}
    shown = show_config(tmp_path, site)
    assert shown.returncode != 0
    assert "UnsafeHubConfig" in shown.stderr
    assert "anyone who reaches the hub would log in" in shown.stderr
    assert "hub.config.JupyterHub.authenticator_class" in shown.stderr


def test_rbac_applies_beside_the_chart_and_grants_only_what_it_lacks() -> None:
    objects = chart.render(chart.our_values())
    ours = chart.manifests(chart.RBAC)
    rendered = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert not {(o["kind"], o["metadata"]["name"]) for o in ours} & rendered  # no owner clash
    assert "ServiceAccount" not in {o["kind"] for o in ours}
    account = chart.find(objects, "Deployment", "hub")["spec"]["template"]["spec"]
    for binding in (o for o in ours if o["kind"].endswith("Binding")):
        (subject,) = binding["subjects"]
        assert (subject["name"], subject["namespace"]) == (
            account["serviceAccountName"],
            chart.NAMESPACE,
        )
    chart_rules = {
        (resource, verb)
        for _, rule in chart.iter_rules(objects)
        if rule.get("apiGroups") == [""]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    ours_granted = {
        (resource, verb)
        for _, rule in chart.iter_rules(ours)
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    namespaced = {
        (r, v)
        for kind, rule in chart.iter_rules(ours)
        if kind == "Role"
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    assert not namespaced & chart_rules, "our Role repeats the chart's"
    assert "configmaps" not in {r for r, _ in ours_granted}


def test_the_hub_image_is_the_charts_own_plus_twcc_spawner() -> None:
    objects = chart.render({})  # the chart's defaults
    image = chart.hub_container(objects)["image"]
    (base,) = re.findall(r"^ARG HUB_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert base == image
    values = chart.our_values()["hub"]["image"]
    assert values["tag"].startswith(image.rsplit(":", 1)[1])


def run_install(source: Path) -> subprocess.CompletedProcess[str]:
    """The hub image's install step, against the chart's hub packages, without installing."""
    return subprocess.run(
        ["sh", str(INSTALL), str(source), "--dry-run"],
        env={"PYTHON": str(z2jh_bin() / "python"), "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_source(target: Path) -> Path:
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(chart.ROOT / name, target / name)
    shutil.copytree(
        chart.ROOT / "twcc_spawner",
        target / "twcc_spawner",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return target


def test_the_hub_image_install_adds_twcc_spawner_and_replaces_nothing(tmp_path: Path) -> None:
    installed = run_install(copy_source(tmp_path))
    assert installed.returncode == 0, installed.stderr
    (would,) = re.findall(r"^Would install (.*)$", installed.stdout, re.MULTILINE)
    assert re.fullmatch(r"twcc-spawner-\S+", would), would  # nothing else, nothing replaced


def test_a_twcc_spawner_that_would_replace_jupyterhub_fails_the_build(tmp_path: Path) -> None:
    source = copy_source(tmp_path)
    setup = source / "setup.cfg"
    setup.write_text(
        re.sub(r"jupyterhub>=[^\n]+", "jupyterhub>=6.1,<6.2", setup.read_text(), count=1)
    )
    refused = run_install(source)
    assert refused.returncode != 0
    assert "jupyterhub==5.5.0" in refused.stdout + refused.stderr


def test_the_prepuller_follows_the_registry_mirror_of_the_values(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    mirror = "harbor.example.org/ngc/pytorch"
    site.write_text(
        yaml.safe_dump({"hub": {"config": {"TWCCSpawner": {"image_registry": mirror}}}})
    )
    files = [str(chart.VALUES), str(site)]
    assert helm_spawner_settings(files)["image_registry"] == mirror
    flags = [f"--helm-values={f}" for f in files]
    printed = subprocess.run(
        [sys.executable, "-m", "twcc_spawner.tools.cli", "prepuller", *flags],
        capture_output=True,
        text=True,
        check=True,
        cwd=chart.ROOT,
    ).stdout
    daemonset = yaml.safe_load(printed)
    pulls = daemonset["spec"]["template"]["spec"]["initContainers"]
    assert pulls and all(c["image"].startswith(f"{mirror}:") for c in pulls)


def test_every_image_a_user_pod_needs_is_named_in_the_values() -> None:
    spawner = chart.our_values()["hub"]["config"]["TWCCSpawner"]
    from twcc_spawner import TWCCSpawner

    traits = TWCCSpawner.class_traits()
    assert spawner["server_env_image"] != traits["server_env_image"].default()
    assert "/" in spawner["server_env_image"].split(":")[0]  # a registry path
    assert spawner["image_registry"]
    pins = (chart.chart_dir().parent / "hub-requirements.txt").read_text()
    (hub_version,) = re.findall(r"^jupyterhub==(\S+)$", pins, re.MULTILINE)
    assert spawner["server_env_image"].endswith(f":{hub_version}")  # built for the hub's version
