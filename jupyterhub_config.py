"""JupyterHub configuration for TWCCSpawner on a real Kubernetes cluster.

The hub runs in the cluster (KubeSpawner uses the in-cluster service account;
outside a cluster it uses your kubeconfig). The demo on the emulated cluster
is `make demo`, which uses its own configuration, not this file.
"""

import os

c = get_config()  # noqa: F821 (provided by JupyterHub)

c.JupyterHub.spawner_class = "twcc"

# The catalog: releases.yaml and sizes.yaml, re-read when they change
# (mount them from a ConfigMap in production).
c.TWCCSpawner.profiles_dir = os.environ.get("TWCC_PROFILES_DIR", "profiles")

# Images come from NGC unless a mirror is configured.
c.TWCCSpawner.image_registry = os.environ.get("TWCC_IMAGE_REGISTRY", "nvcr.io/nvidia/pytorch")

# GPU nodes: NVIDIA's GPU Feature Discovery label and the usual taint.
c.TWCCSpawner.gpu_node_selector = {"nvidia.com/gpu.present": "true"}
c.TWCCSpawner.gpu_tolerations = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
]

# NGC images are 6-15 GB: give the first pull on a node time.
c.TWCCSpawner.start_timeout = 15 * 60
c.TWCCSpawner.http_timeout = 120
