"""Kubelet stand-in: runs each bound pod's first container as a local process group.

Deviations from a real kubelet: images are never pulled; only the first container runs
(others are reported running and ready without a process); a container without a
``command`` runs its ``args``, as if its image's entrypoint ran its arguments (as NGC's
``nvidia_entrypoint.sh`` does; KubeSpawner puts its ``cmd`` in ``args``); init containers
run one after the other before it, each to completion (their output is the log of
``?container=<name>``); ``restartPolicy`` is treated as ``Never``; probes other than an
httpGet readinessProbe are ignored, and that one is polled quickly rather than every
``periodSeconds``. A pod removed from the store without a graceful deletion (as when
its node is lost) has its processes killed at once.

Images map to local roots (:mod:`.images`; by default the TWCC stand-ins of
:mod:`.twcc_images`): container paths under a root, a volume mount or the
termination-message path are rewritten to local ones. Every container also gets
``KUBE_EMULATOR_SHM_KIB``, the size in KiB of the memory volume mounted at
``/dev/shm`` (65536, a container runtime's default, without one): the local
directory standing in for it is not a tmpfs of that size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from ...quantity import parse_quantity
from . import nvidia_smi
from .controller import Controller
from .environment import container_env, expand
from .events import record_event
from .images import SimulatedImages, path_table, rewrite_paths
from .podnet import PodIPs
from .scheduling import TERMINATED, gpu_count, set_condition
from .store import Key, Obj, Store, key_of, now
from .twcc_images import twcc_images
from .volumes import mount_volumes

log = logging.getLogger(__name__)

COMPONENT = "kubelet"
_PROBE_INTERVAL = 0.1
_MESSAGE_LIMIT = 4096
_DEFAULT_SHM_KIB = 64 * 1024
_TERMINATION_MESSAGE_PATH = "/dev/termination-log"


@dataclass(frozen=True)
class _Launch:
    """How to run one container locally."""

    argv: list[str]
    env: dict[str, str]
    cwd: str


@dataclass
class _Runtime:
    """Local state of one pod run by the kubelet."""

    key: Key
    uid: str
    root: Path
    deleting: asyncio.Event = field(default_factory=asyncio.Event)
    ip: str = ""
    process: asyncio.subprocess.Process | None = None
    started_at: str = ""
    task: asyncio.Task[None] | None = None
    probe: asyncio.Task[None] | None = None


class Kubelet(Controller):
    """Starts, watches and stops the processes of pods bound to any node."""

    watched = frozenset({"pods"})

    def __init__(self, store: Store, workdir: Path, images: SimulatedImages | None = None) -> None:
        super().__init__(store)
        self.workdir = workdir
        self.images = images if images is not None else twcc_images()
        self.ips = PodIPs()
        self._runtimes: dict[Key, _Runtime] = {}

    def pod_root(self, pod: Obj) -> Path:
        """The local directory holding a pod's files (log, bin, volumes)."""
        return self.workdir / "pods" / pod["metadata"]["uid"]

    def pod_logs(self, pod: Obj, query: Mapping[str, str]) -> str | None:
        """A pod's combined stdout/stderr, optionally only the last ``tailLines``.

        ``container`` names an init container for its output instead.
        """
        init = {c["name"] for c in pod["spec"].get("initContainers", [])}
        name = query.get("container")
        path = self.pod_root(pod) / (f"log-{name}" if name in init else "log")
        if not path.exists():
            return None
        text = path.read_text(errors="replace")
        if tail := query.get("tailLines"):
            text = "".join(text.splitlines(keepends=True)[-int(tail) :])
        return text

    def reconcile(self) -> None:
        live = {(key_of(p), p["metadata"]["uid"]) for p in self.store.items("pods")}
        for runtime in self._runtimes.values():
            if (runtime.key, runtime.uid) not in live:
                runtime.deleting.set()  # removed behind the kubelet's back
        for pod in list(self.store.items("pods")):
            if not pod["spec"].get("nodeName"):
                continue
            key = key_of(pod)
            runtime = self._runtimes.get(key)
            if runtime is None or runtime.uid != pod["metadata"]["uid"]:
                if runtime is not None:
                    continue  # the old pod of this name is still being torn down
                runtime = _Runtime(key, pod["metadata"]["uid"], self.pod_root(pod))
                self._runtimes[key] = runtime
                runtime.task = asyncio.create_task(self._lifecycle(runtime))
            if pod["metadata"].get("deletionTimestamp"):
                runtime.deleting.set()

    async def _lifecycle(self, runtime: _Runtime) -> None:
        try:
            pod = self.store.find("pods", *runtime.key)
            if pod and pod["status"].get("phase") not in TERMINATED:
                await self._start(runtime, pod)
            if runtime.process is not None:
                returncode, _ = await self._until_exit_or_deletion(runtime)
                self._record_exit(runtime, returncode)
            await runtime.deleting.wait()
            if self._own_pod(runtime) is not None:  # not a new pod of the same name
                self.store.delete("pods", *runtime.key)
        finally:
            if runtime.probe:
                runtime.probe.cancel()
            self._kill_group(runtime, signal.SIGKILL)
            if runtime.ip:
                self.ips.free(runtime.ip)
            del self._runtimes[runtime.key]
            self.wake()

    async def _start(self, runtime: _Runtime, pod: Obj) -> None:
        container = pod["spec"]["containers"][0]
        node = self.store.find("nodes", "", pod["spec"]["nodeName"])
        runtime.ip = self.ips.allocate()
        root = runtime.root
        root.mkdir(parents=True, exist_ok=True)
        bin_dir = root / "bin"
        nvidia_smi.install(bin_dir, nvidia_smi.gpu_info(pod, node, gpu_count(pod)))
        if not await self._run_init_containers(runtime, pod):
            return
        termination_log = root / "termination-log"
        launch = self._prepare(runtime, pod, container, termination_log)
        argv = launch.argv
        image = container.get("image", "")
        log.info("SIMULATED: image %s is not pulled; running the container command locally", image)
        record_event(
            self.store,
            pod,
            "Normal",
            "Pulled",
            f"SIMULATED: image {image} is not pulled; running the container command locally",
            COMPONENT,
        )
        if not argv:
            self._record_start_error(
                runtime, "SIMULATED: no command or args given; image entrypoint unknown"
            )
            return
        try:
            runtime.process = await self._exec(launch, root / "log")
        except OSError as exc:
            self._record_start_error(runtime, str(exc))
            return
        runtime.started_at = now()
        probe = container.get("readinessProbe", {}).get("httpGet")
        self._write_status(runtime, lambda p: self._running_status(runtime, p, ready=not probe))
        pod = self.store.find("pods", *runtime.key) or pod
        record_event(
            self.store,
            pod,
            "Normal",
            "Started",
            f"Started container {container['name']}",
            COMPONENT,
        )
        if probe:
            runtime.probe = asyncio.create_task(self._probe_readiness(runtime, container, probe))

    def _prepare(
        self, runtime: _Runtime, pod: Obj, container: Obj, termination_log: Path
    ) -> _Launch:
        """Mount the container's volumes; its argv, env and working directory, made local."""
        root = runtime.root
        mounts, memory = mount_volumes(pod, container, self.store, root, self.workdir / "pvcs")
        termination_log.write_text("")
        image_root = self.images.root(container.get("image", ""), self.workdir / "images")
        message_path = container.get("terminationMessagePath", _TERMINATION_MESSAGE_PATH)
        table = path_table(mounts, image_root, {message_path: str(termination_log)})

        def local(value: str) -> str:
            return rewrite_paths(value.replace("0.0.0.0", runtime.ip), table)

        own_env = container_env(pod, container, self.store, runtime.ip)
        shm = memory.get("/dev/shm")
        shm_kib = int(parse_quantity(shm) / 1024) if shm else _DEFAULT_SHM_KIB
        env = {**os.environ, **{k: local(v) for k, v in own_env.items()}}
        env.update(
            PATH=f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            HOSTNAME=pod["metadata"]["name"],
            KUBE_EMULATOR_MOUNTS=json.dumps(mounts),
            KUBE_EMULATOR_MEMORY_VOLUMES=json.dumps(memory),
            KUBE_EMULATOR_SHM_KIB=str(shm_kib),
            KUBE_EMULATOR_TERMINATION_LOG=str(termination_log),
            KUBE_EMULATOR_POD_IP=runtime.ip,
        )
        argv = [
            local(expand(arg, own_env))
            for arg in container.get("command", []) + container.get("args", [])
        ]
        cwd = rewrite_paths(container.get("workingDir", ""), table)
        return _Launch(argv, env, cwd if cwd.startswith(str(root)) else str(root))

    @staticmethod
    async def _exec(launch: _Launch, log_path: Path) -> asyncio.subprocess.Process:
        with log_path.open("ab") as log_file:
            return await asyncio.create_subprocess_exec(
                *launch.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env=launch.env,
                cwd=launch.cwd,
                start_new_session=True,
            )

    async def _run_init_containers(self, runtime: _Runtime, pod: Obj) -> bool:
        """Run the init containers in order; False if one failed or the pod is going away."""
        for index, container in enumerate(pod["spec"].get("initContainers", [])):
            started = now()
            self._write_status(
                runtime, self._init_status(index, {"running": {"startedAt": started}})
            )
            termination_log = runtime.root / f"termination-log-{container['name']}"
            launch = self._prepare(runtime, pod, container, termination_log)
            try:
                log_path = runtime.root / f"log-{container['name']}"
                runtime.process = await self._exec(launch, log_path)
            except OSError as exc:
                code, message = 128, str(exc)
            else:
                code, deleted = await self._until_exit_or_deletion(runtime)
                runtime.process = None
                if deleted:
                    return False
                message = termination_log.read_text(errors="replace")[:_MESSAGE_LIMIT]
            state = {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": started,
                "finishedAt": now(),
            }
            if message:
                state["message"] = message
            self._write_status(runtime, self._init_status(index, {"terminated": state}))
            if code != 0:
                log.info(
                    "kubelet: init container %s of %s/%s failed", container["name"], *runtime.key
                )
                return False
        return True

    def _init_status(self, index: int, state: Obj) -> Callable[[Obj], None]:
        """A status change setting init container ``index`` to ``state``; failing fails the pod."""
        return lambda pod: self._set_init_state(pod, index, state)

    def _set_init_state(self, pod: Obj, index: int, state: Obj) -> None:
        status = pod["status"]
        statuses = status.get("initContainerStatuses") or [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": f"simulated://{c.get('image', '')}",
                "restartCount": 0,
                "ready": False,
                "started": False,
                "state": {"waiting": {"reason": "PodInitializing"}},
            }
            for c in pod["spec"]["initContainers"]
        ]
        terminated = state.get("terminated")
        statuses[index].update(
            state=state,
            started="running" in state,
            ready=bool(terminated) and terminated["exitCode"] == 0,
        )
        status["initContainerStatuses"] = statuses
        status.update(podIP=self._runtimes[key_of(pod)].ip, hostIP="127.0.0.1")
        set_condition(
            pod, {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized"}
        )
        if terminated and terminated["exitCode"] != 0:
            status["phase"] = "Failed"
            self._set_ready(pod, False, "PodFailed")

    def _own_pod(self, runtime: _Runtime) -> Obj | None:
        """A copy of ``runtime``'s pod, or None if it is gone (or replaced by one of the same
        name)."""
        pod = self.store.find("pods", *runtime.key)
        return pod if pod is not None and pod["metadata"]["uid"] == runtime.uid else None

    def _write_status(self, runtime: _Runtime, mutate: Callable[[Obj], None]) -> None:
        pod = self._own_pod(runtime)
        if pod is None:
            return
        mutate(pod)
        self.store.update("pods", pod)

    def _running_status(self, runtime: _Runtime, pod: Obj, ready: bool) -> None:
        status = pod["status"]
        status.update(
            phase="Running",
            podIP=runtime.ip,
            podIPs=[{"ip": runtime.ip}],
            hostIP="127.0.0.1",
            hostIPs=[{"ip": "127.0.0.1"}],
            startTime=runtime.started_at,
        )
        pid = runtime.process.pid if runtime.process else 0
        status["containerStatuses"] = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": f"simulated://{c.get('image', '')}",
                "containerID": f"emulator://{pid}/{c['name']}",
                "restartCount": 0,
                "started": True,
                "ready": ready or i > 0,
                "state": {"running": {"startedAt": runtime.started_at}},
            }
            for i, c in enumerate(pod["spec"]["containers"])
        ]
        set_condition(pod, {"type": "Initialized", "status": "True"})
        self._set_ready(pod, ready)

    @staticmethod
    def _set_ready(pod: Obj, ready: bool, reason: str = "ContainersNotReady") -> None:
        value = "True" if ready else "False"
        for kind in ("ContainersReady", "Ready"):
            condition = {"type": kind, "status": value}
            if not ready:
                condition["reason"] = reason
            set_condition(pod, condition)

    async def _probe_readiness(self, runtime: _Runtime, container: Obj, probe: Obj) -> None:
        port = probe.get("port")
        if isinstance(port, str) and not port.isdigit():
            named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            port = named.get(port)
        host = probe.get("host") or runtime.ip
        url = f"{probe.get('scheme', 'HTTP').lower()}://{host}:{port}{probe.get('path', '/')}"
        timeout = aiohttp.ClientTimeout(total=probe.get("timeoutSeconds", 1))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while runtime.process and runtime.process.returncode is None:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url) as response:
                        if 200 <= response.status < 400:
                            break
                await asyncio.sleep(_PROBE_INTERVAL)
            else:
                return

        def mark_ready(pod: Obj) -> None:
            if pod["status"].get("phase") == "Running":
                pod["status"]["containerStatuses"][0]["ready"] = True
                self._set_ready(pod, True)

        self._write_status(runtime, mark_ready)

    async def _until_exit_or_deletion(self, runtime: _Runtime) -> tuple[int, bool]:
        """Wait for the process to exit, or for the pod's deletion and then stop it.

        Returns the process's return code and whether the pod is being deleted.
        """
        assert runtime.process is not None
        exited = asyncio.create_task(runtime.process.wait())
        deleting = asyncio.create_task(runtime.deleting.wait())
        await asyncio.wait({exited, deleting}, return_when=asyncio.FIRST_COMPLETED)
        deleting.cancel()
        deleted = not exited.done()
        if deleted:
            await self._stop(runtime, exited)
        return await exited, deleted

    async def _stop(self, runtime: _Runtime, exited: asyncio.Task[int]) -> None:
        pod = self._own_pod(runtime)
        if pod is None:
            # Removed outright (perhaps replaced already): its node is lost, nothing
            # shuts down gracefully.
            self._kill_group(runtime, signal.SIGKILL)
            await exited
            return
        grace = pod["metadata"].get("deletionGracePeriodSeconds", 30)
        message = f"Stopping container {pod['spec']['containers'][0]['name']}"
        record_event(self.store, pod, "Normal", "Killing", message, COMPONENT)
        self._kill_group(runtime, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(exited), grace)
        except TimeoutError:
            self._kill_group(runtime, signal.SIGKILL)
            await exited

    def _record_exit(self, runtime: _Runtime, returncode: int) -> None:
        exit_code = 128 - returncode if returncode < 0 else returncode
        root = runtime.root
        message = (root / "termination-log").read_text(errors="replace")[:_MESSAGE_LIMIT]

        def terminated(pod: Obj) -> None:
            container = pod["spec"]["containers"][0]
            text = message
            if (
                not text
                and exit_code
                and container.get("terminationMessagePolicy") == ("FallbackToLogsOnError")
            ):
                log_path = root / "log"
                text = log_path.read_text(errors="replace")[-2048:] if log_path.exists() else ""
            state = {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": runtime.started_at or None,  # None: it never started
                "finishedAt": now(),
                "containerID": f"emulator://{runtime.process.pid if runtime.process else 0}",
            }
            if text:
                state["message"] = text
            if returncode < 0:
                state["signal"] = -returncode
            statuses = pod["status"].get("containerStatuses") or [
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "restartCount": 0,
                }
            ]
            statuses[0].update(ready=False, started=False, state={"terminated": state})
            pod["status"]["containerStatuses"] = statuses
            pod["status"]["phase"] = "Succeeded" if exit_code == 0 else "Failed"
            self._set_ready(pod, False, "PodCompleted" if exit_code == 0 else "PodFailed")

        log.info("kubelet: pod %s/%s exited with %s", *runtime.key, exit_code)
        self._write_status(runtime, terminated)

    def _record_start_error(self, runtime: _Runtime, message: str) -> None:
        log.warning("kubelet: pod %s/%s cannot start: %s", *runtime.key, message)
        (runtime.root / "termination-log").write_text(message)
        self._record_exit(runtime, 128)

    @staticmethod
    def _kill_group(runtime: _Runtime, sig: signal.Signals) -> None:
        if runtime.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(runtime.process.pid, sig)

    async def shutdown(self) -> None:
        runtimes = list(self._runtimes.values())
        for runtime in runtimes:
            self._kill_group(runtime, signal.SIGKILL)
            if runtime.task:
                runtime.task.cancel()
        for runtime in runtimes:
            if runtime.process is not None:
                await runtime.process.wait()
            if runtime.task:
                with contextlib.suppress(asyncio.CancelledError):
                    await runtime.task
