"""JupyterHub configuration for TWCCSpawner on a real Kubernetes cluster.

The hub runs in the cluster: KubeSpawner uses the pod's service account
(in-cluster config; outside a cluster it uses your kubeconfig) and starts user
pods in the hub's namespace. With Zero-to-JupyterHub use deploy/helm/values.yaml
instead of this file (docs/operators.md). The demo on the emulated cluster is `make demo`,
which uses its own configuration, not this file.

Settings that differ per cluster come from the environment, so the same file
serves a Zero-to-JupyterHub deployment (deploy/helm/values.yaml sets them in
hub.extraEnv) and a hub started by hand:

TWCC_PROFILES_DIR     releases.yaml and sizes.yaml; mount the twcc-profiles
                      ConfigMap here (default: the catalog shipped in the package)
TWCC_IMAGE_REGISTRY   a mirror of nvcr.io/nvidia/pytorch
TWCC_CULL_TIMEOUT     stop servers idle this many seconds (0: no culling)
TWCC_CULL_EVERY       how often to look for idle servers, in seconds
"""

import os

from twcc_spawner import HUB_TEMPLATES
from twcc_spawner.hub_checks import refuse_dummy_authenticator
from twcc_spawner.tools.manifests import idle_culler_service

c = get_config()  # noqa: F821 (provided by JupyterHub)

c.JupyterHub.spawner_class = "twcc"

# The home page shows each running server's selection ("PyTorch 21.11 / 2 GPUs").
c.JupyterHub.template_paths = [HUB_TEMPLATES]

# The hub's own address for the user pods and the proxy: in a cluster that is
# the pod's IP, reachable from other pods.
c.JupyterHub.hub_ip = "0.0.0.0"

# The catalog: the one shipped with twcc-spawner, unless TWCC_PROFILES_DIR names
# a directory (a relative one is taken from this file's directory). It is re-read
# when it changes: a ConfigMap mount is swapped atomically by the kubelet and
# picked up by the next spawn form.
if os.environ.get("TWCC_PROFILES_DIR"):
    c.TWCCSpawner.profiles_dir = os.environ["TWCC_PROFILES_DIR"]

# Images come from NGC unless a mirror is configured.
c.TWCCSpawner.image_registry = os.environ.get("TWCC_IMAGE_REGISTRY", "nvcr.io/nvidia/pytorch")

# GPU nodes: NVIDIA's GPU Feature Discovery label and the usual taint.
c.TWCCSpawner.gpu_node_selector = {"nvidia.com/gpu.present": "true"}
c.TWCCSpawner.gpu_tolerations = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
]

# NGC images are 6-15 GB: give the first pull on a node time (or pre-pull them:
# `twcc-profiles prepuller`).
c.TWCCSpawner.start_timeout = 15 * 60
c.TWCCSpawner.http_timeout = 120

# Idle GPU servers go back to the pool.
cull_timeout = int(os.environ.get("TWCC_CULL_TIMEOUT", "3600"))
if cull_timeout:
    service, role = idle_culler_service(
        timeout=cull_timeout, every=int(os.environ.get("TWCC_CULL_EVERY", "300"))
    )
    c.JupyterHub.services.append(service)
    c.JupyterHub.load_roles.append(role)

# Configure an authenticator here (c.JupyterHub.authenticator_class); the hub
# refuses to start with DummyAuthenticator.
refuse_dummy_authenticator(c)
