"""Kubelet stand-in: runs each bound pod's first container as a local process group.

Like a kubelet, it first sets up the pod's volumes (a missing Secret or ConfigMap gives
FailedMount events, the pod stays in ContainerCreating), pulls each container's image
into the node's image store (:mod:`.image_store`: ErrImagePull and ImagePullBackOff for an
image the simulated registry does not know, ``imagePullPolicy`` honoured, pulls at the
node's rate, one at a time per node), makes the container's environment (a missing
``secretKeyRef`` or ``configMapKeyRef`` gives CreateContainerConfigError), then runs init
containers one after the other, each to completion, and the first container. A container
that exits is restarted as ``restartPolicy`` says, with CrashLoopBackOff back-off (the
first restart at once, then ``backoff`` seconds doubling up to ``max_backoff``), keeping
``restartCount`` and ``lastState``. Each run's output is kept (:mod:`.container_logs`).

Deviations from a real kubelet: only the first container runs (others are reported
running and ready without a process); a container without a ``command`` runs its
``args``, as if its image's entrypoint ran its arguments (as NGC's
``nvidia_entrypoint.sh`` does; KubeSpawner puts its ``cmd`` in ``args``); probes other
than an httpGet or exec readinessProbe are ignored, and that one is polled quickly rather
than every ``periodSeconds`` until it first passes; a reference that is missing is
re-checked every fraction of a second. A pod removed from the store without a graceful
deletion (as when its node is lost) has its processes killed at once.

Images map to local roots (:mod:`.images`; by default the TWCC stand-ins of
:mod:`.twcc_images`): container paths under a root, a volume mount or the
termination-message path are rewritten to local ones. Each container runs in its
own mount namespace as its ``securityContext``'s user, with its memory-backed
emptyDirs and ``/dev/shm`` as tmpfs of their sizes (:mod:`.sandbox`); a kubelet
that cannot do that (not root) refuses to start containers, with a StartError.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from . import image_store, nvidia_smi, sandbox
from .container_logs import capture, log_path, plain_text
from .controller import Controller
from .environment import container_env, expand, service_env
from .events import record_event
from .image_store import Registry, go_duration
from .images import SimulatedImages, path_table, rewrite_paths
from .podnet import PodIPs
from .references import config_error, mount_failures
from .scheduling import TERMINATED, gpu_count, set_condition
from .security_context import fs_group, memory_volume_size, process_identity
from .store import Key, Obj, Store, key_of, now
from .twcc_images import twcc_images, twcc_registry
from .volumes import mount_volumes

log = logging.getLogger(__name__)

COMPONENT = "kubelet"
_PROBE_INTERVAL = 0.1
_RESYNC = 0.2  # how often a missing reference or image is looked for again
_MESSAGE_LIMIT = 4096
_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
GPU = "nvidia.com/gpu"
_CAPTURE_DRAIN = 1.0  # seconds to finish copying a process's output after it exited

INIT, MAIN = "init", "main"


@dataclass(frozen=True)
class KubeletConfig:
    """What the simulated kubelets share: the registry and the back-off of retries."""

    registry: Registry = field(default_factory=twcc_registry)
    backoff: float = 10.0  # the kubelet's first image-pull and crash-loop back-off
    max_backoff: float = 300.0


@dataclass(frozen=True)
class _Launch:
    """How to run one container locally."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    plan: sandbox.Plan
    paths: dict[str, str] = field(default_factory=dict)  # container path prefix → local path


@dataclass(frozen=True)
class RunningContainer:
    """What a process started in a running container needs (``kubectl exec``, :mod:`.exec_api`).

    ``prefix`` is put before the process's argv to enter the container's mount namespace
    and run as its user, as its own process was started (:func:`.sandbox.enter`).
    """

    env: Mapping[str, str]
    cwd: str
    paths: Mapping[str, str]  # container path prefix → local path, as in its command
    pid: int
    prefix: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Exit:
    """How one run of a container ended."""

    code: int
    reason: str
    message: str
    signal: int = 0


@dataclass
class _Runtime:
    """Local state of one pod run by the kubelet."""

    key: Key
    uid: str
    root: Path
    node: str = ""
    deleting: asyncio.Event = field(default_factory=asyncio.Event)
    ip: str = ""
    process: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    probe: asyncio.Task[None] | None = None
    reader: asyncio.Task[None] | None = None  # copies the process's output to its log
    writing: set[Path] = field(default_factory=set)  # logs still being written
    reported: set[tuple[str, str]] = field(default_factory=set)  # warnings recorded
    gpus: list[int] = field(default_factory=list)  # the node's GPUs granted to the pod
    set_up: set[str] = field(default_factory=set)  # volumes given the pod's fsGroup
    running: tuple[str, _Launch] | None = None  # the container whose process runs, and how


def _spec_key(kind: str) -> tuple[str, str]:
    return (
        ("initContainers", "initContainerStatuses")
        if kind == INIT
        else (
            "containers",
            "containerStatuses",
        )
    )


def _statuses(pod: Obj, kind: str) -> list[Obj]:
    """The pod's container statuses of ``kind``, created (waiting) if it has none yet."""
    spec_key, status_key = _spec_key(kind)
    statuses = pod["status"].get(status_key)
    if not statuses:
        initializing = kind == INIT or pod["spec"].get("initContainers")
        reason = "PodInitializing" if initializing else "ContainerCreating"
        statuses = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "restartCount": 0,
                "started": False,
                "ready": False,
                "state": {"waiting": {"reason": reason}},
                "lastState": {},
            }
            for c in pod["spec"].get(spec_key, [])
        ]
        pod["status"][status_key] = statuses
    return statuses


def _entry(pod: Obj, kind: str, name: str) -> Obj:
    return next(s for s in _statuses(pod, kind) if s["name"] == name)


def _set_ready(pod: Obj, ready: bool, reason: str = "ContainersNotReady") -> None:
    value = "True" if ready else "False"
    for kind in ("ContainersReady", "Ready"):
        condition = {"type": kind, "status": value}
        if not ready:
            condition["reason"] = reason
        set_condition(pod, condition)


def _waiting(reason: str, message: str = "") -> Obj:
    return {"waiting": {"reason": reason, **({"message": message} if message else {})}}


class Kubelet(Controller):
    """Starts, watches and stops the processes of pods bound to any node."""

    watched = frozenset({"pods"})

    def __init__(
        self,
        store: Store,
        workdir: Path,
        images: SimulatedImages | None = None,
        config: KubeletConfig | None = None,
    ) -> None:
        super().__init__(store)
        self.workdir = workdir
        self.images = images if images is not None else twcc_images()
        self.config = config or KubeletConfig()
        self.ips = PodIPs()
        self._runtimes: dict[Key, _Runtime] = {}
        self._pull_locks: dict[str, asyncio.Lock] = {}
        self._gpus_in_use: dict[str, set[int]] = {}
        self.api_address = ("127.0.0.1", 443)  # the emulator's API server, once it listens
        self.cannot_sandbox = sandbox.unavailable()
        self._shared = [workdir / part for part in ("pods", "pvcs", "images")]
        for path in self._shared:
            path.mkdir(parents=True, exist_ok=True)

    def pod_root(self, pod: Obj) -> Path:
        """The local directory holding a pod's files (logs, bin, volumes)."""
        return self.workdir / "pods" / pod["metadata"]["uid"]

    def log_file(self, pod: Obj, container: str, previous: bool = False) -> Path | None:
        """The log of ``container``'s latest run (or the one before), None if there is none."""
        for kind in (MAIN, INIT):
            _, status_key = _spec_key(kind)
            for status in pod.get("status", {}).get(status_key) or []:
                if status["name"] == container:
                    run = int(status.get("restartCount", 0)) - (1 if previous else 0)
                    path = log_path(self.pod_root(pod), container, run)
                    return path if run >= 0 and path.exists() else None
        return None

    def log_open(self, pod: Obj, path: Path) -> bool:
        """Whether ``path`` (a log of ``pod``) is still being written."""
        runtime = self._runtimes.get(key_of(pod))
        return (
            runtime is not None
            and runtime.uid == pod["metadata"]["uid"]
            and path in (runtime.writing)
        )

    def pod_logs(self, pod: Obj, query: Mapping[str, str]) -> str | None:
        """The output of a container's latest run (``container``, else the first), or None.

        ``tailLines`` keeps only the last lines.
        """
        name = query.get("container") or pod["spec"]["containers"][0]["name"]
        path = self.log_file(pod, name)
        if path is None:
            return None
        text = plain_text(path)
        if tail := query.get("tailLines"):
            text = "".join(text.splitlines(keepends=True)[-int(tail) :])
        return text

    def knows(self, pod: Obj) -> bool:
        """Whether this kubelet runs ``pod`` (this very pod, not an older one of its name)."""
        runtime = self._runtimes.get(key_of(pod))
        return runtime is not None and runtime.uid == pod["metadata"]["uid"]

    def running_container(self, pod: Obj, container: str) -> RunningContainer | None:
        """How to start a process in ``container`` of ``pod``; None unless its process runs."""
        runtime = self._runtimes.get(key_of(pod))
        if runtime is None or runtime.uid != pod["metadata"]["uid"]:
            return None
        return self._entered(runtime, container)

    @staticmethod
    def _entered(runtime: _Runtime, container: str) -> RunningContainer | None:
        """How to start a process in ``container`` of ``runtime``; None unless it runs."""
        if runtime.running is None:
            return None
        name, launch = runtime.running
        process = runtime.process
        if name != container or process is None or process.returncode is not None:
            return None
        prefix = tuple(sandbox.enter(launch.plan, process.pid))
        return RunningContainer(launch.env, launch.cwd, launch.paths, process.pid, prefix)

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
                runtime.node = pod["spec"]["nodeName"]
                self._runtimes[key] = runtime
                runtime.task = asyncio.create_task(self._lifecycle(runtime))
            if pod["metadata"].get("deletionTimestamp"):
                runtime.deleting.set()

    async def _lifecycle(self, runtime: _Runtime) -> None:
        try:
            pod = self.store.find("pods", *runtime.key)
            if pod and pod["status"].get("phase") not in TERMINATED:
                await self._run_pod(runtime, pod)
            await runtime.deleting.wait()
            if self._own_pod(runtime) is not None:  # not a new pod of the same name
                self.store.delete("pods", *runtime.key)
        finally:
            if runtime.probe:
                runtime.probe.cancel()
            self._kill_group(runtime, signal.SIGKILL)
            if runtime.ip:
                self.ips.free(runtime.ip)
            self._gpus_in_use.get(runtime.node, set()).difference_update(runtime.gpus)
            del self._runtimes[runtime.key]
            self.wake()

    async def _run_pod(self, runtime: _Runtime, pod: Obj) -> None:
        node = self.store.find("nodes", "", runtime.node)
        runtime.root.mkdir(parents=True, exist_ok=True)
        runtime.gpus = self._allocate_gpus(runtime.node, node, gpu_count(pod))
        nvidia_smi.install(runtime.root / "bin", nvidia_smi.gpu_info(node, runtime.gpus))
        self._write_status(runtime, self._accepted)
        if not await self._mount(runtime):
            return
        runtime.ip = self.ips.allocate()
        self._write_status(runtime, self._sandbox_ready(runtime.ip))
        for container in pod["spec"].get("initContainers", []):
            if await self._run(runtime, container, INIT) != 0:
                return
        await self._run(runtime, pod["spec"]["containers"][0], MAIN)

    def _allocate_gpus(self, name: str, node: Obj | None, count: int) -> list[int]:
        """The lowest ``count`` GPUs of the node no other pod holds (the device plugin)."""
        capacity = int((node or {}).get("status", {}).get("capacity", {}).get(GPU, 0))
        used = self._gpus_in_use.setdefault(name, set())
        granted = [i for i in range(capacity) if i not in used][:count]
        used.update(granted)
        return granted

    @staticmethod
    def _accepted(pod: Obj) -> None:
        """The pod as the kubelet first reports it: its containers waiting."""
        status = pod["status"]
        status.update(hostIP="127.0.0.1", hostIPs=[{"ip": "127.0.0.1"}], startTime=now())
        if pod["spec"].get("initContainers"):
            _statuses(pod, INIT)
            set_condition(
                pod,
                {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized"},
            )
        else:
            set_condition(pod, {"type": "Initialized", "status": "True"})
        _statuses(pod, MAIN)
        _set_ready(pod, False)

    @staticmethod
    def _sandbox_ready(ip: str) -> Callable[[Obj], None]:
        return lambda pod: pod["status"].update(podIP=ip, podIPs=[{"ip": ip}])

    async def _mount(self, runtime: _Runtime) -> bool:
        """Wait until every volume can be set up; False if the pod went away first."""
        while (pod := self._own_pod(runtime)) is not None:
            names = {
                c["name"] for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
            }
            failures = mount_failures(self.store, pod, names)
            if not failures:
                return True
            for message in failures:
                self._warn_once(runtime, pod, "FailedMount", message)
            if await self._sleep(runtime, _RESYNC):
                break
        return False

    def _warn_once(self, runtime: _Runtime, pod: Obj, reason: str, message: str) -> None:
        if (reason, message) not in runtime.reported:
            runtime.reported.add((reason, message))
            record_event(self.store, pod, "Warning", reason, message, COMPONENT)

    async def _sleep(self, runtime: _Runtime, seconds: float) -> bool:
        """Sleep ``seconds`` unless the pod is deleted first; True if it is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.deleting.wait(), seconds)
        return runtime.deleting.is_set()

    def _set_state(
        self, runtime: _Runtime, kind: str, name: str, state: Obj, phase: str | None = None
    ) -> None:
        """Set one container's state (not running), and the pod's ``phase`` if given."""
        reasons = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}

        def mutate(pod: Obj) -> None:
            _entry(pod, kind, name).update(state=state, ready=False, started=False)
            if phase:
                pod["status"]["phase"] = phase
            if kind == MAIN or phase == "Failed":
                _set_ready(
                    pod, False, reasons.get(pod["status"].get("phase", ""), "ContainersNotReady")
                )

        self._write_status(runtime, mutate)

    # Images

    async def _pull(self, runtime: _Runtime, container: Obj, kind: str) -> bool:
        """Make sure the node has the container's image; False if the pod went away first."""
        image = container.get("image", "")
        policy = container.get("imagePullPolicy") or "IfNotPresent"
        delay = self.config.backoff
        while (pod := self._own_pod(runtime)) is not None:
            node = self.store.find("nodes", "", runtime.node) or {}
            present = image_store.has_image(node, image)
            if present and policy != "Always":
                message = f'Container image "{image}" already present on machine'
                record_event(self.store, pod, "Normal", "Pulled", message, COMPONENT)
                return True
            if policy == "Never":
                message = f'Container image "{image}" is not present with pull policy of Never'
                self._set_state(
                    runtime, kind, container["name"], _waiting("ErrImageNeverPull", message)
                )
                self._warn_once(runtime, pod, "ErrImageNeverPull", message)
                self._warn_once(runtime, pod, "Failed", "Error: ErrImageNeverPull")
                if await self._sleep(runtime, _RESYNC):
                    return False
                continue
            record_event(
                self.store, pod, "Normal", "Pulling", f'Pulling image "{image}"', COMPONENT
            )
            error = await self._download(runtime, image)
            if error is None:
                return not runtime.deleting.is_set()
            name = container["name"]
            failed = f'Failed to pull image "{image}": {error}'
            record_event(self.store, pod, "Warning", "Failed", failed, COMPONENT)
            record_event(self.store, pod, "Warning", "Failed", "Error: ErrImagePull", COMPONENT)
            self._set_state(runtime, kind, name, _waiting("ErrImagePull", error))
            if await self._sleep(runtime, min(_RESYNC, delay)):
                return False
            back_off = f'Back-off pulling image "{image}"'
            self._set_state(
                runtime,
                kind,
                name,
                _waiting("ImagePullBackOff", f"{back_off}: ErrImagePull: {error}"),
            )
            record_event(self.store, pod, "Normal", "BackOff", back_off, COMPONENT)
            record_event(self.store, pod, "Warning", "Failed", "Error: ImagePullBackOff", COMPONENT)
            if await self._sleep(runtime, delay):
                return False
            delay = min(delay * 2, self.config.max_backoff)
        return False

    async def _download(self, runtime: _Runtime, image: str) -> str | None:
        """Pull ``image`` into the node's store at its rate; the registry's error, or None."""
        size = self.config.registry.size(image)
        if size is None:
            ref = image_store.normalize(image)
            return (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
                f'failed to resolve reference "{ref}": {ref}: not found'
            )
        queued = time.monotonic()
        async with self._pull_locks.setdefault(runtime.node, asyncio.Lock()):
            began = time.monotonic()
            node = self.store.find("nodes", "", runtime.node)
            if node is None:
                return "SIMULATED: the node is gone"
            if not image_store.has_image(node, image):
                if await self._sleep(runtime, size / image_store.pull_rate(node)):
                    return None
                node = self.store.find("nodes", "", runtime.node)
                if node is not None:
                    image_store.add_image(node, image, size)
                    self.store.update("nodes", node)
            finished = time.monotonic()
        pod = self._own_pod(runtime)
        if pod is not None:
            message = (
                f'Successfully pulled image "{image}" in {go_duration(finished - began)} '
                f"({go_duration(finished - queued)} including waiting). Image size: {size} bytes."
            )
            record_event(self.store, pod, "Normal", "Pulled", message, COMPONENT)
        return None

    # Containers

    async def _configured(self, runtime: _Runtime, container: Obj, kind: str) -> Obj | None:
        """The pod once the container's config can be made; None if the pod went away."""
        while (pod := self._own_pod(runtime)) is not None:
            error = config_error(self.store, pod, container)
            if error is None:
                return pod
            self._set_state(
                runtime, kind, container["name"], _waiting("CreateContainerConfigError", error)
            )
            self._warn_once(runtime, pod, "Failed", f"Error: {error}")
            if await self._sleep(runtime, _RESYNC):
                break
        return None

    async def _run(self, runtime: _Runtime, container: Obj, kind: str) -> int | None:
        """Run ``container`` until no restart is due; its last exit code, None if deleted."""
        name = container["name"]
        policy = (self._own_pod(runtime) or {}).get("spec", {}).get("restartPolicy", "Always")
        run, delay, last_state = 0, 0.0, {}
        termination_log = runtime.root / (
            "termination-log" if kind == MAIN else f"termination-log-{name}"
        )
        while True:
            if not await self._pull(runtime, container, kind):
                return None
            pod = await self._configured(runtime, container, kind)
            if pod is None:
                return None
            started, began = now(), time.monotonic()
            ended = await self._start_and_wait(
                runtime, pod, container, kind, run, started, last_state, termination_log
            )
            if ended is None:
                return None
            code = ended.code
            restart = policy == "Always" or (policy == "OnFailure" and code != 0)
            if kind == INIT:
                restart = code != 0 and policy != "Never"
            terminated = {
                "exitCode": code,
                "reason": ended.reason,
                "startedAt": started if ended.reason != "StartError" else None,
                "finishedAt": now(),
                "containerID": self._container_id(runtime, name),
            }
            if ended.message:
                terminated["message"] = ended.message
            if ended.signal:
                terminated["signal"] = ended.signal
            phase = None
            if not restart:
                phase = "Succeeded" if code == 0 else "Failed"
                if kind == INIT and code == 0:
                    phase = None
            self._set_state(runtime, kind, name, {"terminated": terminated}, phase)
            if kind == INIT and code == 0:
                self._write_status(runtime, self._maybe_initialized)
            log.info("kubelet: container %s of %s/%s exited with %s", name, *runtime.key, code)
            if not restart:
                return code
            if time.monotonic() - began > 2 * self.config.max_backoff:
                delay = 0.0
            if delay:
                meta = pod["metadata"]
                who = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
                waiting = _waiting(
                    "CrashLoopBackOff",
                    f"back-off {go_duration(delay)} restarting failed container={name} pod={who}",
                )
                self._set_state(runtime, kind, name, waiting)
                message = f"Back-off restarting failed container {name} in pod {who}"
                record_event(self.store, pod, "Warning", "BackOff", message, COMPONENT)
                if await self._sleep(runtime, delay):
                    return None
            delay = min(delay * 2, self.config.max_backoff) if delay else self.config.backoff
            run, last_state = run + 1, {"terminated": terminated}

    @staticmethod
    def _container_id(runtime: _Runtime, name: str) -> str:
        pid = runtime.process.pid if runtime.process else 0
        return f"emulator://{pid}/{name}"

    async def _start_and_wait(
        self,
        runtime: _Runtime,
        pod: Obj,
        container: Obj,
        kind: str,
        run: int,
        started: str,
        last_state: Obj,
        termination_log: Path,
    ) -> _Exit | None:
        """Start one run and wait for its end; None if the pod is deleted meanwhile."""
        name = container["name"]
        runtime.process = None
        try:
            launch = self._prepare(runtime, pod, container, termination_log)
            if not launch.argv:
                raise OSError("SIMULATED: no command or args given; image entrypoint unknown")
            if self.cannot_sandbox:
                raise OSError(f"SIMULATED: cannot run the container: {self.cannot_sandbox}")
            path = log_path(runtime.root, name, run)
            await self._exec(runtime, launch, path)
            runtime.running = (name, launch)
        except OSError as exc:
            log.warning("kubelet: %s of %s/%s cannot start: %s", name, *runtime.key, exc)
            record_event(self.store, pod, "Warning", "Failed", f"Error: {exc}", COMPONENT)
            return _Exit(128, "StartError", str(exc))
        image_id = image_store.digest_name(container.get("image", ""))
        probe = _readiness_probe(container) if kind == MAIN else None
        self._write_status(
            runtime,
            lambda p: self._running(
                p, kind, name, run, started, last_state, image_id, runtime, probe
            ),
        )
        pod = self._own_pod(runtime) or pod
        record_event(self.store, pod, "Normal", "Created", f"Created container: {name}", COMPONENT)
        record_event(self.store, pod, "Normal", "Started", f"Started container {name}", COMPONENT)
        if probe:
            runtime.probe = asyncio.create_task(self._probe_readiness(runtime, container, probe))
        code, deleted = await self._until_exit_or_deletion(runtime)
        if runtime.probe:
            runtime.probe.cancel()
            runtime.probe = None
        self._kill_group(runtime, signal.SIGKILL)  # the container's other processes end with it
        await self._drain(runtime, path)
        if deleted:
            return None
        exit_code = 128 - code if code < 0 else code
        text = termination_log.read_text(errors="replace")[:_MESSAGE_LIMIT]
        if (
            not text
            and exit_code
            and container.get("terminationMessagePolicy") == ("FallbackToLogsOnError")
        ):
            text = plain_text(path)[-2048:]
        reason = "Completed" if exit_code == 0 else "Error"
        return _Exit(exit_code, reason, text, -code if code < 0 else 0)

    def _running(
        self,
        pod: Obj,
        kind: str,
        name: str,
        run: int,
        started: str,
        last_state: Obj,
        image_id: str,
        runtime: _Runtime,
        probe: Obj | None,
    ) -> None:
        entry = _entry(pod, kind, name)
        entry.update(
            state={"running": {"startedAt": started}},
            lastState=last_state,
            restartCount=run,
            started=True,
            ready=kind == MAIN and not probe,
            imageID=image_id,
            containerID=self._container_id(runtime, name),
        )
        if kind == INIT:
            return
        for other in _statuses(pod, MAIN)[1:]:
            other.update(
                state={"running": {"startedAt": started}},
                started=True,
                ready=True,
                imageID=image_store.digest_name(other["image"]),
            )
        pod["status"]["phase"] = "Running"
        set_condition(pod, {"type": "Initialized", "status": "True"})
        _set_ready(pod, not probe)

    @staticmethod
    def _maybe_initialized(pod: Obj) -> None:
        statuses = _statuses(pod, INIT)
        if all(s["state"].get("terminated", {}).get("exitCode") == 0 for s in statuses):
            set_condition(pod, {"type": "Initialized", "status": "True"})

    def _prepare(
        self, runtime: _Runtime, pod: Obj, container: Obj, termination_log: Path
    ) -> _Launch:
        """Mount the container's volumes; its argv, env and working directory, made local."""
        root = runtime.root
        pvcs = self.workdir / "pvcs"
        mounts, memory = mount_volumes(pod, container, self.store, root, pvcs, runtime.set_up)
        termination_log.write_text("")
        termination_log.chmod(0o666)  # as the kubelet makes it: any container user writes it
        image_root = self.images.root(container.get("image", ""), self.workdir / "images")
        message_path = container.get("terminationMessagePath", _TERMINATION_MESSAGE_PATH)
        table = path_table(mounts, image_root, {message_path: str(termination_log)})

        def local(value: str) -> str:
            return rewrite_paths(value.replace("0.0.0.0", runtime.ip), table)

        own_env = container_env(pod, container, self.store, runtime.ip)
        env = {
            **os.environ,
            **service_env(self.store, pod, self.api_address),
            **{k: local(v) for k, v in own_env.items()},
        }
        if runtime.gpus:
            env["NVIDIA_VISIBLE_DEVICES"] = nvidia_smi.visible_devices(runtime.node, runtime.gpus)
        env.update(
            PATH=f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            HOSTNAME=pod["metadata"]["name"],
            KUBE_EMULATOR_MOUNTS=json.dumps(mounts),
            KUBE_EMULATOR_MEMORY_VOLUMES=json.dumps(memory),
            KUBE_EMULATOR_TERMINATION_LOG=str(termination_log),
            KUBE_EMULATOR_POD_IP=runtime.ip,
        )
        argv = [
            local(expand(arg, own_env))
            for arg in container.get("command", []) + container.get("args", [])
        ]
        cwd = rewrite_paths(container.get("workingDir", ""), table)
        cwd = cwd if cwd.startswith(str(root)) else str(root)
        node = self.store.find("nodes", "", runtime.node)
        sizes = {path: memory_volume_size(node, pod, limit) for path, limit in memory.items()}
        readable = [str(image_root)] if image_root else []
        plan = sandbox.plan(
            process_identity(pod, container),
            cwd,
            mounts,
            sizes,
            self._shared,
            readable + sandbox.host_python_paths(),
            fs_group(pod),
        )
        return _Launch(argv, env, cwd, plan, table)

    async def _exec(self, runtime: _Runtime, launch: _Launch, path: Path) -> None:
        sandbox.check_executable(launch.argv[0], launch.env.get("PATH"), launch.cwd)
        runtime.process = await asyncio.create_subprocess_exec(
            *sandbox.wrap(launch.plan, launch.argv),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=launch.env,
            cwd=launch.cwd,
            start_new_session=True,
        )
        assert runtime.process.stdout is not None
        runtime.writing.add(path)
        runtime.reader = asyncio.create_task(capture(runtime.process.stdout, path))

    @staticmethod
    async def _drain(runtime: _Runtime, path: Path) -> None:
        if runtime.reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(runtime.reader), _CAPTURE_DRAIN)
            runtime.reader.cancel()
            runtime.reader = None
        runtime.writing.discard(path)

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

    async def _probe_readiness(self, runtime: _Runtime, container: Obj, probe: Obj) -> None:
        """Run ``probe`` until it first passes while the container runs; then mark it Ready."""
        timeout = probe.get("timeoutSeconds", 1)
        async with contextlib.AsyncExitStack() as stack:
            if "exec" in probe:
                command = probe["exec"].get("command") or []

                async def check() -> bool:
                    return await self._exec_probe(runtime, container["name"], command)
            else:
                session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
                await stack.enter_async_context(session)
                url = _probe_url(runtime, container, probe["httpGet"])

                async def check() -> bool:
                    async with session.get(url) as response:
                        return 200 <= response.status < 400

            while runtime.process and runtime.process.returncode is None:
                with contextlib.suppress(OSError, aiohttp.ClientError, TimeoutError):
                    if await asyncio.wait_for(check(), timeout):
                        break
                await asyncio.sleep(_PROBE_INTERVAL)
            else:
                return

        def mark_ready(pod: Obj) -> None:
            status = pod["status"]["containerStatuses"][0]
            if pod["status"].get("phase") == "Running" and "running" in status["state"]:
                status["ready"] = True
                _set_ready(pod, True)

        self._write_status(runtime, mark_ready)

    async def _exec_probe(self, runtime: _Runtime, container: str, command: list[str]) -> bool:
        """Whether ``command`` exits 0 in the running container, entered as exec enters it."""
        target = self._entered(runtime, container)
        if target is None or not command:
            return False
        process = await asyncio.create_subprocess_exec(
            *target.prefix,
            *(rewrite_paths(arg, target.paths) for arg in command),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=dict(target.env),
            cwd=target.cwd,
        )
        try:
            return await process.wait() == 0
        finally:
            if process.returncode is None:  # timed out: the kubelet kills it
                process.kill()
                await process.wait()

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
        # as a container runtime stops one: SIGTERM to its first process only, and the
        # others end with it (SIGKILL to the group once it exited, or after the grace)
        if runtime.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(runtime.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(exited), grace)
        except TimeoutError:
            self._kill_group(runtime, signal.SIGKILL)
            await exited

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


def _readiness_probe(container: Obj) -> Obj | None:
    """The container's readinessProbe if the kubelet runs it (httpGet or exec)."""
    probe = container.get("readinessProbe") or {}
    return probe if "httpGet" in probe or "exec" in probe else None


def _probe_url(runtime: _Runtime, container: Obj, action: Obj) -> str:
    """The URL an httpGet probe asks, with a named port looked up in the container's ports."""
    port = action.get("port")
    if isinstance(port, str) and not port.isdigit():
        named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        port = named.get(port)
    host = action.get("host") or runtime.ip
    return f"{action.get('scheme', 'HTTP').lower()}://{host}:{port}{action.get('path', '/')}"
