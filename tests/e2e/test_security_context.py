"""A server under the z2jh chart's user: uid 1000, fs_gid 100, started through the hub.

The chart sets KubeSpawner's ``uid`` and ``fs_gid`` (``singleuser.uid``/``fsGid``); the
emulator's kubelet runs the container as that user with the home PVC given group 100,
as a node does, while the image's files stay root's.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from aiohttp import ClientSession
from kernels import run_in_kernel

from twcc_spawner.quantity import parse_quantity

from .conftest import Cluster, HubApi
from .test_spawn_failures import failed_spawn

pytestmark = pytest.mark.e2e

PROBE = """
import json, os
home = os.environ["HOME"]
with open(os.path.join(home, "made-by-the-kernel"), "w") as f:
    f.write("x")
made = os.stat(os.path.join(home, "made-by-the-kernel"))
try:
    conda = os.path.dirname(os.path.dirname(os.environ["TWCC_IMAGE_PYTHON"]))  # /opt/conda
    open(os.path.join(conda, "x"), "w")
    image_writable = True
except PermissionError:
    image_writable = False
shm = os.statvfs("/dev/shm")
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()),
    "made": [made.st_uid, made.st_gid], "image_writable": image_writable,
    "shm": shm.f_blocks * shm.f_frsize,
}))
"""


async def _probe(api: HubApi) -> dict:
    headers = {"Authorization": api.session.headers["Authorization"]}
    async with ClientSession(headers=headers) as session:
        return json.loads(await run_in_kernel(session, f"{api.url}/user/alice/", PROBE))


@pytest.mark.spawner(uid=1000, fs_gid=100)
def test_21_11_with_2_gpus_runs_its_kernel_as_the_charts_uid_and_fs_gid(
    api: HubApi, k8s: Cluster
) -> None:
    response = api.start("alice", release="21.11", gpus=2)
    assert response.status_code in (201, 202), response.text
    api.wait_ready("alice", timeout=60)
    pod = k8s.pod("jupyter-alice")
    assert pod is not None
    notebook = pod["spec"]["containers"][0]
    assert notebook["securityContext"]["runAsUser"] == 1000
    assert pod["spec"]["securityContext"]["fsGroup"] == 100

    probe = asyncio.run(_probe(api))
    assert (probe["uid"], probe["gid"], probe["groups"]) == (1000, 0, [100])
    assert probe["made"] == [1000, 100]  # the home PVC is fs_gid's, so the user writes it
    assert probe["image_writable"] is False  # the image's Python belongs to root
    (mount,) = [m for m in notebook["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    (shm,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    assert probe["shm"] == int(parse_quantity(shm["emptyDir"]["sizeLimit"]))


@pytest.mark.spawner(uid=1000)
def test_without_fs_gid_the_spawn_fails_saying_the_home_is_not_writable(
    api: HubApi, k8s: Cluster
) -> None:
    message = failed_spawn(api, k8s, release="21.11", gpus=2)
    # the emulator shows HOME (/home/alice) as the local directory of alice's PVC
    match = re.fullmatch(r"(.*directory )(\S+)( is not.*)", message)
    assert match, message
    head, home, tail = match.groups()
    assert head == "The main container 'notebook' exited with code 1: The home directory "
    assert home.endswith("/pvcs/default/claim-alice")
    assert tail == (
        " is not writable by uid 1000 (groups 0): the pod's fsGroup (KubeSpawner's fs_gid) "
        "must be a group that may write it"
    )
