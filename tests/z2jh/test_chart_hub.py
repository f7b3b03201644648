"""The chart's own hub, as the hub pod runs it, on the emulator: login, spawn, server.

The chart is rendered with ``deploy/helm/values.yaml`` and a site values file
(the provider's addresses, a registry mirror). Its hub ConfigMap and Secret are
placed where the hub Deployment mounts them, its env resolved as the kubelet
does, and its own ``jupyterhub_config.py`` and ``z2jh.py`` run by the chart's
hub packages (``.venv-z2jh``). Each process of the "cluster" (the emulator and
its pods, configurable-http-proxy with the rendered proxy command, the hub) runs
in a private mount namespace (``unshare -m``; we are root) where ``/etc/hosts``
resolves the rendered Service names, as cluster DNS would, and the mounts sit
at the paths the Deployment gives. Deviations from a cluster: the hub reaches
the emulator through a kubeconfig (``KUBECONFIG``) instead of an in-cluster
service account, the servers run as root on this machine (``allow_root``), and
the ports are the chart's fixed ones (8000, 8001, 8081) on this machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from polling import eventually

from twcc_spawner.catalog import load_catalog
from twcc_spawner.simulated.emulator.cluster import DEFAULT_CLUSTER
from twcc_spawner.simulated.local_hub import ChildProcess, find_proxy, wait_for_http

from . import chart
from .hub_pod import hub_argv, in_namespace, z2jh_bin
from .oidc import Provider, serving

pytestmark = [pytest.mark.e2e, pytest.mark.z2jh_hub]

MIRROR = "harbor.example.org/ngc/pytorch"
PROFILES_MOUNT = "/usr/local/etc/twcc/profiles"


def free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


class Kubectl:
    def __init__(self, kubeconfig: Path, binary: Path) -> None:
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        self.binary = binary
        self.cache = kubeconfig.parent / "kube-cache"  # not another emulator's discovery

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(self.binary), f"--cache-dir={self.cache}", *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


@pytest.fixture
def provider() -> Iterator[Provider]:
    claims = {"preferred_username": "alice", "groups": ["gpu-users", "lab-a"]}
    with serving(Provider("twcc-hub", "s3cret-for-the-test", claims)) as running:
        yield running


@pytest.fixture
def processes() -> Iterator[list[ChildProcess]]:
    started: list[ChildProcess] = []
    yield started
    for child in reversed(started):
        child.stop()
        print(f"--- {child.name} ({child.log}) ---\n{child.log_tail(150)}")


def test_the_charts_hub_logs_in_spawns_and_proxies_a_gpu_server(
    tmp_path: Path, provider: Provider, processes: list[ChildProcess]
) -> None:
    bindir = z2jh_bin()
    kubectl_binary = bindir / "kubectl"
    # The rendered proxy's public port: the site's callback URL goes through it.
    objects = chart.render(chart.our_values())
    proxy = chart.find(objects, "Deployment", "proxy")["spec"]["template"]["spec"]["containers"][0]
    port = next(p["containerPort"] for p in proxy["ports"] if p["name"] == "http")
    site = {
        "hub": {
            "config": {
                "GenericOAuthenticator": {
                    "client_id": provider.client_id,
                    "client_secret": provider.client_secret,
                    "oauth_callback_url": f"http://127.0.0.1:{port}/hub/oauth_callback",
                    **provider.endpoints(),
                },
                # the chart's singleuser uid 1000 and fsGid 100 apply as they are
                "TWCCSpawner": {"image_registry": MIRROR},
            }
        }
    }
    objects = chart.render(chart.our_values(site))
    services = chart.service_environment(objects)
    hub_container = chart.hub_container(objects)
    hub_port = next(p["containerPort"] for p in hub_container["ports"])
    api_port = int(services["PROXY_API_SERVICE_PORT"])
    busy = [p for p in (port, api_port, hub_port) if not free(p)]
    assert not busy, f"the chart's ports {busy} are in use on this machine (a demo running?)"

    # cluster DNS: every rendered Service name resolves to this machine
    names = " ".join(o["metadata"]["name"] for o in objects if o["kind"] == "Service")
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {names}\n::1 localhost ip6-localhost\n")
    dns = {hosts: "/etc/hosts"}

    kubeconfig = tmp_path / "kubeconfig"
    # the simulated registry serves the values' mirror of 21.11 too (the catalog's size)
    cluster = yaml.safe_load(DEFAULT_CLUSTER.read_text())
    size = load_catalog(chart.ROOT / "profiles").release("21.11").image_size or 1
    cluster["registry"] = {**cluster.get("registry", {}), f"{MIRROR}:21.11-py3": size}
    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text(yaml.safe_dump(cluster))
    emulator = ChildProcess(
        "emulator",
        in_namespace(
            [
                str(bindir / "python"),
                "-m",
                "twcc_spawner.simulated.emulator",
                "--cluster",
                str(cluster_file),
                "--kubeconfig",
                str(kubeconfig),
                "--workdir",
                str(tmp_path / "emulator"),
            ],
            dns,
        ),
        {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"},
        tmp_path / "emulator.log",
    )
    processes.append(emulator)
    emulator.start()
    eventually(
        lambda: kubeconfig.exists() or emulator.check_running(), 60, "the emulator's kubeconfig"
    )
    kubectl = Kubectl(kubeconfig, kubectl_binary)

    # docs/operators.md: the namespace, then the profiles ConfigMap
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": chart.NAMESPACE}}
    kubectl(
        "create", "--validate=false", "-f", "-", stdin=json.dumps(namespace)
    )  # `kubectl create namespace jhub`
    configmap = subprocess.run(
        [str(bindir / "twcc-profiles"), "configmap", f"--namespace={chart.NAMESPACE}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=chart.ROOT,
    ).stdout
    kubectl("create", "--validate=false", "-f", "-", stdin=configmap)

    # the hub pod's volumes, as the kubelet fills them
    etc = tmp_path / "usr-local-etc"
    mounted = {m["mountPath"]: m for m in hub_container["volumeMounts"]}
    assert PROFILES_MOUNT in mounted, "the values mount the profiles ConfigMap"
    profiles = etc / PROFILES_MOUNT.removeprefix("/usr/local/etc/")
    profiles.mkdir(parents=True)
    stored = kubectl.json("get", "configmap", "twcc-profiles", "-n", chart.NAMESPACE)
    for key, value in stored["data"].items():
        (profiles / key).write_text(value)

    # configurable-http-proxy: the rendered proxy container's command and env
    proxy_env = {**services, **chart.container_environment(proxy, objects)}
    proxy_argv = [
        chart.expand(a, proxy_env) for a in [*proxy.get("command", []), *proxy.get("args", [])]
    ]
    assert proxy_argv[0] == "configurable-http-proxy"
    chp = ChildProcess(
        "proxy",
        in_namespace([find_proxy(), *proxy_argv[1:]], dns),
        {**os.environ, **proxy_env},
        tmp_path / "proxy.log",
    )
    processes.append(chp)
    chp.start()

    # the hub: the rendered args, env and mounts; the image's working directory
    hub_env = {
        **os.environ,
        **services,
        **chart.container_environment(hub_container, objects),
        "KUBECONFIG": str(kubeconfig),
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
    }
    args = [chart.expand(a, hub_env) for a in hub_container["args"]]
    assert args[0] == "jupyterhub" and "--upgrade-db" in args
    hub = ChildProcess(
        "hub",
        hub_argv(objects, tmp_path, dns, *args[1:]),
        hub_env,
        tmp_path / "hub.log",
    )
    processes.append(hub)
    hub.start()
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/hub/api/", hub, 120)

    # login through the configured authenticator: the provider's groups arrive
    session = requests.Session()
    landed = session.get(f"{url}/hub/oauth_login", timeout=30)
    assert landed.status_code == 200, landed.text[:500]
    me = session.get(f"{url}/hub/api/user", timeout=30).json()
    assert me["name"] == "alice" and {"gpu-users", "lab-a"} <= set(me["groups"])

    started = session.post(
        f"{url}/hub/api/users/alice/server",
        json={"user_options": {"release": "21.11", "gpus": 2}},  # JupyterHub 6's body, on 5.5
        headers={"X-XSRFToken": session.cookies["_xsrf"]},
        timeout=30,
    )
    assert started.status_code in (201, 202), started.text

    def ready() -> bool:
        servers = session.get(f"{url}/hub/api/users/alice", timeout=30).json()["servers"]
        assert "" in servers, f"alice's spawn failed; see the hub log: {servers}"
        return bool(servers[""]["ready"])

    eventually(ready, 120, "alice's server ready")
    # as a browser does: the server's page, through the hub's OAuth, then its API
    page = session.get(f"{url}/user/alice/lab", timeout=60)
    assert page.status_code == 200 and page.url.startswith(f"{url}/user/alice/"), page.url
    status = session.get(f"{url}/user/alice/api/status", timeout=30)
    assert status.status_code == 200 and "started" in status.json(), status.text[:300]

    # the pod: the mirror's image, 2 GPUs, one home mount, no privileged container
    pod = next(
        p
        for p in kubectl.json("get", "pods", "-n", chart.NAMESPACE)["items"]
        if p["metadata"]["labels"].get("component") == "singleuser-server"
    )
    spec = pod["spec"]
    notebook = spec["containers"][0]
    assert notebook["image"] == f"{MIRROR}:21.11-py3"
    assert notebook["resources"]["limits"]["nvidia.com/gpu"] == "2"
    claims = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
    assert len(claims) == 1
    home = [m["mountPath"] for m in notebook["volumeMounts"] if m["name"] == claims[0]["name"]]
    assert home == ["/home/alice"]
    pvc = kubectl.json(
        "get",
        "persistentvolumeclaims",
        claims[0]["persistentVolumeClaim"]["claimName"],
        "-n",
        chart.NAMESPACE,
    )
    assert pvc["spec"]["resources"]["requests"]["storage"] == "100Gi"
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        assert not (container.get("securityContext") or {}).get("privileged"), container["name"]
    server_env = [c["image"] for c in spec.get("initContainers", [])]
    values_config = chart.our_values(site)["hub"]["config"]["TWCCSpawner"]
    assert values_config["server_env_image"] in server_env

    # the home page template of the values: the running server's selection
    assert "PyTorch 21.11 / 2 GPUs" in session.get(f"{url}/hub/home", timeout=30).text

    # the chart's idle culler reaches the hub on localhost
    eventually(
        lambda: (
            "jupyterhub-idle-culler" in hub.log.read_text()
            and "200 GET /hub/api/users" in hub.log.read_text()
        ),
        60,
        "the idle culler's first look at the users",
    )
