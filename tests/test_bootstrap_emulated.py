"""The start script for real: the emulator's kubelet runs TWCCSpawner's pod.

The init container copies the simulated server environment, the start script
checks the container and starts jupyterhub-singleuser, which answers on the pod
IP; a kernel started through its REST API is the image's Python (stub torch
reporting the catalog's version). Each failed in-container check ends the pod
with its one-line reason as the termination message.

The hub's side is a stand-in for JupyterHub's REST API (the version check, the
token check and activity), the part of a hub the single-user server talks to;
the whole hub is exercised by tests/e2e.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jupyterhub
import pytest
from aiohttp import ClientSession, web
from kernels import run_in_kernel
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from twcc_spawner.catalog import load_catalog
from twcc_spawner.quantity import parse_quantity
from twcc_spawner.simulated.emulator import Emulator
from twcc_spawner.simulated.emulator.twcc_images import (
    build_ngc_pytorch,
    catalog_registry,
    twcc_images,
)
from twcc_spawner.watchdog import container_failure

TOKEN = "simulated-hub-token"
PREFIX = "/user/alice/"
DEADLINE = 60.0


def cluster(driver: str = "470.57.02") -> dict[str, Any]:
    return {
        "defaults": {
            "cpu": "36",
            "memory": "768Gi",
            "gpu": {"product": "Tesla-V100-SXM2-32GB", "count": 8, "driver": driver},
            "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
        },
        "nodes": [{"name": "gn1001"}],
    }


@pytest.fixture
async def hub_api() -> AsyncIterator[str]:
    """JupyterHub's REST API as the single-user server uses it, for user alice."""

    async def root(request: web.Request) -> web.Response:
        return web.json_response(
            {"version": jupyterhub.__version__},
            headers={"X-JupyterHub-Version": jupyterhub.__version__},
        )

    async def user(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"token {TOKEN}":
            return web.json_response({"status": 403}, status=403)
        model = {"kind": "user", "name": "alice", "admin": False, "groups": []}
        return web.json_response({**model, "scopes": ["access:servers!user=alice"]})

    async def activity(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/hub/api", root)
    app.router.add_get("/hub/api/user", user)
    app.router.add_post("/hub/api/users/alice/activity", activity)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hub/api"
    await runner.cleanup()


@pytest.fixture
def emulator(shipped_profiles: Path) -> Callable[..., Emulator]:
    versions = {r.release: r.pytorch for r in load_catalog(shipped_profiles).releases}
    return lambda driver="470.57.02": Emulator(
        cluster=cluster(driver),
        images=twcc_images(versions),
        registry=catalog_registry(shipped_profiles),
        image_pull_rate=100e9,
    )


async def spawner_pod(make_spawner, hub_api: str, release: str, **config: Any) -> dict:
    spawner = make_spawner(user_options={"release": release, "gpus": 1}, **config)
    await spawner.load_user_options()
    pod = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    hub_env = {
        "JUPYTERHUB_API_URL": hub_api,
        "JUPYTERHUB_API_TOKEN": TOKEN,
        "JUPYTERHUB_ACTIVITY_URL": f"{hub_api}/users/alice/activity",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
        "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:8888{PREFIX}",
    }
    env = pod["spec"]["containers"][0]["env"]
    env[:] = [e for e in env if e["name"] not in hub_env]
    env += [{"name": k, "value": v} for k, v in hub_env.items()]
    return pod


async def create(emu: Emulator, pod: dict[str, Any]) -> None:
    async with client.ApiClient(client.Configuration(host=emu.url)) as api_client:
        core = client.CoreV1Api(api_client)
        claim = {
            "metadata": {"name": "claim-alice"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
        await core.create_namespaced_persistent_volume_claim("default", claim)
        await core.create_namespaced_pod("default", pod)


def stored(emu: Emulator) -> dict[str, Any]:
    return emu.store.find("pods", "default", "jupyter-alice") or {}


@contextlib.asynccontextmanager
async def shown_logs(emu: Emulator) -> AsyncIterator[None]:
    """Print the pod's logs when leaving (pytest shows them for a failed test)."""
    try:
        yield
    finally:
        pod = stored(emu)
        if pod:
            for container in ("twcc-server-env", "notebook"):
                print(f"--- {container}:", emu.kubelet.pod_logs(pod, {"container": container}))


async def answer(session: ClientSession, url: str) -> Any:
    """GET ``url`` until the server answers (it is starting), within the deadline."""
    async with asyncio.timeout(DEADLINE):
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return await response.json()
            except OSError:
                pass
            await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "release, pytorch",
    [("18.08", "0.4.1"), ("22.02", "1.11.0a0+17540c5")],
    ids=["oldest", "newest"],
)
async def test_the_server_starts_and_its_kernel_is_the_images_python(
    make_spawner, hub_api, emulator, release, pytorch
) -> None:
    pod = await spawner_pod(make_spawner, hub_api, release)
    async with emulator() as emu, shown_logs(emu), asyncio.timeout(DEADLINE):
        created = time.monotonic()
        await create(emu, pod)
        await emu.store.wait_for(lambda: stored(emu).get("status", {}).get("phase") == "Running")
        ip = stored(emu)["status"]["podIP"]
        headers = {"Authorization": f"token {TOKEN}"}
        async with ClientSession(headers=headers) as session:
            base = f"http://{ip}:8888{PREFIX}"
            assert "version" in await answer(session, f"{base}api")
            ready = time.monotonic() - created
            async with session.get(f"{base}lab") as lab:
                assert lab.status == 200 and "JupyterLab" in await lab.text()
            specs = await answer(session, f"{base}api/kernelspecs")
            assert list(specs["kernelspecs"]) == ["python3"]
            spec = specs["kernelspecs"]["python3"]["spec"]
            assert spec["argv"][0].endswith("/opt/conda/bin/python")
            assert spec["argv"][1:3] == ["-m", "ipykernel_launcher"]
            assert spec["display_name"] == f"Python 3 (PyTorch {release} / 1 GPU)"
            out = await run_in_kernel(
                session, base, "import torch, sys; print(torch.__version__, torch.__file__)"
            )
        version, torch_file = out.split()
        assert version == pytorch
        assert Path(spec["argv"][0]).parent.parent.samefile(Path(torch_file).parents[2])

        status = stored(emu)["status"]
        (init,) = status["initContainerStatuses"]
        assert init["state"]["terminated"]["exitCode"] == 0
        log = emu.kubelet.pod_logs(stored(emu), {})
        (shm,) = [v for v in pod["spec"]["volumes"] if v["name"] == "twcc-dshm"]
        shm_mib = int(parse_quantity(shm["emptyDir"]["sizeLimit"])) // 1024 // 1024
        assert f"twcc-start: [3/4] /dev/shm: {shm_mib} MiB" in log  # df measured its tmpfs
        for step in ("[1/4] GPUs", "[2/4] driver", "[3/4] /dev/shm", "[4/4] CUDA: PyTorch"):
            assert f"twcc-start: {step}" in log
        print(f"\n{release}: server answering {ready:.1f}s after the pod was created; {log}")


def ready(emu: Emulator) -> bool:
    conditions = stored(emu).get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def test_the_server_starts_beside_the_cuda_check_and_is_ready_only_after_it(
    make_spawner, hub_api, shipped_profiles: Path, tmp_path: Path
) -> None:
    """The CUDA check of this image waits for a file; the server answers meanwhile, yet the
    pod is not Ready until the check has passed. The server keeps SIGINT and SIGQUIT as
    signals (Ctrl-C in its terminals), although the start script ran it in the background."""
    release = "22.02"
    root = tmp_path / "gated-image"
    go = root / "cuda-may-finish"  # in the image's root: the container sees it
    versions = {r.release: r.pytorch for r in load_catalog(shipped_profiles).releases}
    build_ngc_pytorch(root, versions[release])
    torch = root / "opt" / "conda" / "simulated-site-packages" / "torch" / "__init__.py"
    wait = f"import os as _os, time as _time\nwhile not _os.path.exists({str(go)!r}):\n"
    torch.write_text(wait + "    _time.sleep(0.05)\n" + torch.read_text())
    pod = await spawner_pod(make_spawner, hub_api, release)
    image = pod["spec"]["containers"][0]["image"]
    emulator = Emulator(
        cluster=cluster(),
        images=twcc_images(versions, roots={image: root}),
        registry=catalog_registry(shipped_profiles),
        image_pull_rate=100e9,
    )
    async with emulator as emu, shown_logs(emu), asyncio.timeout(DEADLINE):
        await create(emu, pod)
        await emu.store.wait_for(lambda: stored(emu).get("status", {}).get("phase") == "Running")
        base = f"http://{stored(emu)['status']['podIP']}:8888{PREFIX}"
        async with ClientSession(headers={"Authorization": f"token {TOKEN}"}) as session:
            assert "version" in await answer(session, f"{base}api")
            assert not ready(emu)  # the server answers, but the CUDA check has not passed
            assert "[4/4] CUDA" not in emu.kubelet.pod_logs(stored(emu), {})
            go.touch()
            await emu.store.wait_for(lambda: ready(emu))
            ignored = await run_in_kernel(
                session,
                base,
                "import os\n"
                "status = open('/proc/%d/status' % os.getppid()).read()\n"  # the server's
                "print([l.split()[1] for l in status.splitlines() if l.startswith('SigIgn')][0])",
            )
        assert int(ignored, 16) & (1 << 1 | 1 << 2) == 0  # SIGINT (2), SIGQUIT (3): not ignored
        log = emu.kubelet.pod_logs(stored(emu), {})
        assert log.index("starting the Jupyter server") < log.index("[4/4] CUDA")
        assert "the server answers: ready" in log

        # The runtime stops a container with SIGTERM to its first process, the script:
        # it passes the signal on, the server shuts down and its exit is the container's.
        status = stored(emu)["status"]["containerStatuses"][0]
        os.kill(int(status["containerID"].split("/")[2]), signal.SIGTERM)
        terminated = await emu.store.wait_for(lambda: _first_exit(emu))
        assert terminated["exitCode"] == 0, terminated
        assert "received signal 15, stopping" in emu.kubelet.pod_logs(stored(emu), {})


def _first_exit(emu: Emulator, kind: str = "containerStatuses") -> dict[str, Any] | None:
    """The container's first exit (KubeSpawner's pods restart it OnFailure), if any."""
    for status in stored(emu).get("status", {}).get(kind) or []:
        return status["state"].get("terminated") or status["lastState"].get("terminated")
    return None


async def failed_reason(emu: Emulator, pod: dict[str, Any]) -> str:
    await create(emu, pod)
    terminated = await emu.store.wait_for(lambda: _first_exit(emu))
    assert terminated["exitCode"] == 1
    return terminated["message"].strip()


async def test_fewer_gpus_than_allocated(make_spawner, hub_api, emulator) -> None:
    pod = await spawner_pod(make_spawner, hub_api, "22.02")
    async with emulator() as emu, asyncio.timeout(DEADLINE):
        node = emu.store.find("nodes", "", "gn1001")
        node["metadata"].setdefault("annotations", {})["twcc.ai/simulate-missing-gpus"] = "1"
        emu.store.update("nodes", node)
        reason = await failed_reason(emu, pod)
    assert reason == (
        "The container sees 0 GPU(s) but 1 were allocated (nvidia-smi -L: No devices were found)"
    )


async def test_unsupported_driver(make_spawner, hub_api, emulator) -> None:
    pod = await spawner_pod(make_spawner, hub_api, "22.02")
    async with emulator(driver="465.19.01") as emu, asyncio.timeout(DEADLINE):
        reason = await failed_reason(emu, pod)
    assert reason == (
        "NVIDIA driver 465.19.01 on this node cannot run 22.02 images: they need 510 or newer "
        "or a data-center branch at least 418.40, 440.33, 450.51, 460.27, 470.57"
    )


async def test_too_small_dev_shm(make_spawner, hub_api, emulator) -> None:
    pod = await spawner_pod(make_spawner, hub_api, "22.02")
    (shm,) = [v for v in pod["spec"]["volumes"] if v["name"] == "twcc-dshm"]
    shm["emptyDir"]["sizeLimit"] = "64Mi"  # e.g. a namespace policy capped it
    async with emulator() as emu, asyncio.timeout(DEADLINE):
        reason = await failed_reason(emu, pod)
    assert reason == (
        "/dev/shm is 64 MiB but PyTorch 22.02 / 1 GPU needs 16G (PyTorch DataLoader workers use it)"
    )


async def test_a_server_env_image_that_is_missing_fails_in_the_init_container(
    make_spawner, hub_api, emulator
) -> None:
    image = "registry.example.org/not-simulated:1"
    pod = await spawner_pod(make_spawner, hub_api, "22.02", server_env_image=image)
    async with emulator() as emu, asyncio.timeout(DEADLINE):
        await create(emu, pod)
        failure = await emu.store.wait_for(lambda: container_failure(stored(emu)))
        status = stored(emu)["status"]
    assert failure.startswith("The init container 'twcc-server-env' is stuck: ImagePullBackOff.")
    assert f'Back-off pulling image "{image}"' in failure
    assert not any("running" in c.get("state", {}) for c in status["containerStatuses"])
