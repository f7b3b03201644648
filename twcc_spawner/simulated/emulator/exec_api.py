"""``pods/exec`` and ``pods/attach`` over WebSocket, as kube-apiserver serves kubectl 1.3x.

The protocol is ``v5.channel.k8s.io``, the only one kube-apiserver's stream translator
speaks: each binary message starts with its channel's byte (0 stdin, 1 stdout, 2 stderr,
3 error, 4 resize), and ``255 <channel>`` closes a channel (the client closes stdin so).
On opening, an empty message goes to the lowest channel the client reads; at the end the
error channel carries a ``Status`` (Success, or Failure ``NonZeroExitCode`` with the exit
code as an ``ExitCode`` cause), then the WebSocket closes. What the kubelet would refuse
(the pod is not on its node, the container is not running) comes the same way, as the
API server's ``InternalError`` wrapping the kubelet's words.

An exec'd process runs as the container's process does (:meth:`.Kubelet.running_container`):
its environment, working directory and launch prefix (into the container's mount
namespace, as its user: :func:`.sandbox.enter`), with absolute container paths in
its arguments rewritten as the kubelet rewrites the container's command (:mod:`.images`).
``tar`` run so (``kubectl cp``) also gets GNU tar's ``--transform``, so that the members of
an archive it writes carry container paths, not local ones. A process still running when
the client goes away, or when the container's process ends, is killed with its group.

Attach streams the output the container writes from then on (its log file,
:mod:`.container_logs`; stdout and stderr are one stream there), until that run ends.
The kubelet stand-in starts containers without stdin or a terminal, so attach sends no
input. An exec with ``tty`` runs on a pseudo-terminal (its controlling terminal, sized by
the client's resize messages; the process starts once the first size came, or after a
second), with stdout and stderr one stream as on a real terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import re
import signal
import struct
import termios
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .container_logs import read_entries
from .images import rewrite_paths
from .sandbox import check_executable
from .store import Obj

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .kubelet import Kubelet, RunningContainer

PROTOCOL = "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
_CHUNK = 32 * 1024
_DRAIN = 1.0  # seconds to finish copying output after the process exited
_POLL = 0.1  # how often attach looks for new output, and exec for the container's end
_FIRST_SIZE = 1.0  # seconds a tty exec waits for the client's terminal size


@dataclass(frozen=True)
class Streams:
    """The streams a request asks for (``stdin``, ``stdout``, ``stderr``, ``tty``)."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Streams:
        def flag(name: str) -> bool:
            return query.get(name, "").lower() in {"1", "true"}

        return cls(flag("stdin"), flag("stdout"), flag("stderr"), flag("tty"))


def success() -> dict[str, Any]:
    """The error channel's ``Status`` when the command exited 0."""
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int) -> dict[str, Any]:
    """The error channel's ``Status`` for a non-zero exit code."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: command terminated with exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error(message: str) -> dict[str, Any]:
    """The error channel's ``Status`` of an ``InternalError``."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def _tar_pattern(path: str) -> str:
    """``path`` without its leading slash as a literal basic regular expression."""
    return re.sub(r"([\\.\[\]*^$,])", r"\\\1", path.lstrip("/"))


def _tar_replacement(path: str) -> str:
    """``path`` without its leading slash as a literal replacement of tar's ``s,,,``."""
    return re.sub(r"([\\&,])", r"\\\1", path.lstrip("/"))


def local_argv(argv: list[str], paths: Mapping[str, str]) -> list[str]:
    """``argv`` with its container paths made local, and tar's members kept in container terms."""
    local = [rewrite_paths(arg, paths) for arg in argv]
    if not argv or PurePosixPath(argv[0]).name != "tar":
        return local
    transforms = [
        f"--transform=s,^{_tar_pattern(new)},{_tar_replacement(old)},"
        for old, new in zip(argv[1:], local[1:], strict=True)
        if old != new and old.startswith("/") and old.strip("/")
    ]
    return [*local, *transforms]  # after the operands: a first ``cf`` must stay first


class Channels:
    """One ``v5.channel.k8s.io`` WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()  # stdout and stderr are copied concurrently

    async def send(self, channel: int, data: bytes = b"") -> None:
        async with self._lock:
            with contextlib.suppress(ConnectionResetError):
                await self.ws.send_bytes(bytes([channel]) + data)

    async def finish(self, status: Mapping[str, Any]) -> None:
        """Send ``status`` on the error channel and close the WebSocket."""
        await self.send(ERROR, json.dumps(status).encode())
        await self.ws.close()


async def open_channels(request: web.Request, streams: Streams) -> Channels:
    """Upgrade ``request`` to the channel protocol and announce the connection."""
    ws = web.WebSocketResponse(protocols=(PROTOCOL,), max_msg_size=0)
    await ws.prepare(request)
    channels = Channels(ws)
    lowest = STDOUT if streams.stdout else STDERR if streams.stderr else ERROR
    await channels.send(lowest)
    return channels


class StreamApi:
    """Serves exec and attach from the kubelet's running containers."""

    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet

    def _target(self, pod: Obj, container: str) -> RunningContainer | str:
        """The running container, or the kubelet's refusal as the API server reports it."""
        if not self.kubelet.knows(pod):
            return "unable to upgrade connection: pod does not exist"
        running = self.kubelet.running_container(pod, container)
        if running is None:
            return f'unable to upgrade connection: container not found ("{container}")'
        return running

    async def _open(
        self, request: web.Request, pod: Obj, container: str
    ) -> tuple[Streams, Channels, RunningContainer | None]:
        """The streams asked for, the open channels and the running container; None (the
        kubelet's refusal sent, the channels finished) if it cannot take a process."""
        streams = Streams.of(request.query)
        channels = await open_channels(request, streams)
        target = self._target(pod, container)
        if isinstance(target, str):
            await channels.finish(internal_error(target))
            return streams, channels, None
        return streams, channels, target

    async def exec(
        self, request: web.Request, pod: Obj, container: str, command: list[str]
    ) -> web.StreamResponse:
        """Run ``command`` in ``container`` with the streams the request asks for."""
        streams, channels, target = await self._open(request, pod, container)
        if target is None:
            return channels.ws
        local = local_argv(command, target.paths)
        terminal = await Terminal.open() if streams.tty else None
        try:
            # looked up first, as the runtime does: inside, setpriv would only exit 127
            check_executable(local[0], target.env.get("PATH"), target.cwd)
            argv = [*target.prefix, *local]
            process, reader = await self._start(channels, streams, target, argv, terminal)
        except OSError as exc:
            if terminal is not None:
                terminal.close()
            await channels.finish(internal_error(_exec_failed(command[0], exc)))
            return channels.ws
        finally:
            if terminal is not None:
                os.close(terminal.slave)
        outputs = [(process.stdout, STDOUT), (process.stderr, STDERR)]
        if terminal is not None:
            outputs = [(terminal.output, STDOUT)]
        pumps = [
            asyncio.create_task(_pump(stream, channels, channel))
            for stream, channel in outputs
            if stream is not None
        ]
        ended = asyncio.create_task(_ended(process, pumps))
        gone = asyncio.create_task(_pid_gone(target.pid))
        await asyncio.wait({ended, reader, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not ended.done():
            _kill_group(process)
        code = await ended
        if not channels.ws.closed:
            await channels.finish(success() if code == 0 else exit_status(_exit_code(code)))
        for task in (reader, gone):
            task.cancel()
        if terminal is not None:
            terminal.close()
        return channels.ws

    @staticmethod
    async def _start(
        channels: Channels,
        streams: Streams,
        target: RunningContainer,
        argv: list[str],
        terminal: Terminal | None,
    ) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
        """Start ``argv`` and the task feeding it the client's input."""
        pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        if terminal is None:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=pipe if streams.stdin else devnull,
                stdout=pipe if streams.stdout else devnull,
                stderr=pipe if streams.stderr else devnull,
                env=dict(target.env),
                cwd=target.cwd,
                start_new_session=True,
            )
            return process, asyncio.create_task(_read_input(channels.ws, process.stdin))
        reader = asyncio.create_task(_read_input(channels.ws, terminal.input, terminal))
        with contextlib.suppress(TimeoutError):  # kubectl sends its terminal's size first
            await asyncio.wait_for(terminal.sized.wait(), _FIRST_SIZE)
        try:
            process = await asyncio.create_subprocess_exec(
                "setsid",
                "--ctty",
                *argv,
                stdin=terminal.slave,
                stdout=terminal.slave,
                stderr=terminal.slave,
                env=dict(target.env),
                cwd=target.cwd,
            )
        except OSError:
            reader.cancel()
            raise
        return process, reader

    async def attach(self, request: web.Request, pod: Obj, container: str) -> web.StreamResponse:
        """Stream ``container``'s output from now on, until its run ends or the client leaves."""
        streams, channels, target = await self._open(request, pod, container)
        if target is None:
            return channels.ws
        path = self.kubelet.log_file(pod, container)
        if path is None:
            await channels.finish(internal_error(f'container not found ("{container}")'))
            return channels.ws
        offset = path.stat().st_size
        reader = asyncio.create_task(_read_input(channels.ws, None))
        while not reader.done():
            running = self.kubelet.log_open(pod, path)
            entries, offset = read_entries(path, offset)
            text = "".join(entry.text for entry in entries).encode()
            if text and (streams.stdout or streams.stderr):
                await channels.send(STDOUT if streams.stdout else STDERR, text)
            if not entries and not running:
                break
            if not entries:
                await asyncio.wait({reader}, timeout=_POLL)
        reader.cancel()
        if not channels.ws.closed:
            await channels.finish(success())
        return channels.ws


class Terminal:
    """A pseudo-terminal for ``tty``: the process gets one end as its controlling terminal."""

    def __init__(self, master: int, slave: int) -> None:
        self.master, self.slave = master, slave
        self.sized = asyncio.Event()
        self.output = asyncio.StreamReader()
        self.input: asyncio.StreamWriter
        self._transports: list[asyncio.BaseTransport] = []

    @classmethod
    async def open(cls) -> Terminal:
        terminal = cls(*os.openpty())
        loop = asyncio.get_running_loop()
        protocol = asyncio.StreamReaderProtocol(terminal.output)
        reading, _ = await loop.connect_read_pipe(
            lambda: protocol, os.fdopen(terminal.master, "rb", buffering=0)
        )
        writing, writer_protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(os.dup(terminal.master), "wb", buffering=0)
        )
        terminal.input = asyncio.StreamWriter(writing, writer_protocol, None, loop)
        terminal._transports = [reading, writing]
        return terminal

    def resize(self, message: bytes) -> None:
        """Apply a resize message (``{"Width": w, "Height": h}``)."""
        with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
            size = json.loads(message)
            winsize = struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, winsize)
            self.sized.set()

    def close(self) -> None:
        for transport in self._transports:
            transport.close()


async def _pump(stream: asyncio.StreamReader, channels: Channels, channel: int) -> None:
    with contextlib.suppress(OSError):  # a terminal's end reads EIO once the process is gone
        while data := await stream.read(_CHUNK):
            await channels.send(channel, data)


async def _ended(process: asyncio.subprocess.Process, pumps: list[asyncio.Task[None]]) -> int:
    """The process's return code, once its output is copied (or the drain time is up)."""
    code = await process.wait()
    if pumps:
        _, pending = await asyncio.wait(pumps, timeout=_DRAIN)
        for task in pending:
            task.cancel()
    return code


async def _read_input(
    ws: web.WebSocketResponse,
    stdin: asyncio.StreamWriter | None,
    terminal: Terminal | None = None,
) -> None:
    """Feed stdin (and a terminal's size) from the client's messages until it goes away."""
    async for message in ws:
        if message.type != WSMsgType.BINARY or not message.data:
            continue
        channel, data = message.data[0], message.data[1:]
        if channel == RESIZE and terminal is not None:
            terminal.resize(data)
        if stdin is None:
            continue
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            if channel == STDIN:
                stdin.write(data)
                await stdin.drain()
            elif channel == CLOSE and data[:1] == bytes([STDIN]):
                if terminal is not None:
                    stdin.write(b"\x04")  # end of input, as a terminal's user types it
                else:
                    stdin.close()


async def _pid_gone(pid: int) -> None:
    """Return once process ``pid`` (the container's) no longer exists."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        await asyncio.sleep(_POLL)


def _exec_failed(command: str, exc: OSError) -> str:
    """Why ``command`` could not start, in the words of the container runtime's tail."""
    reason = "executable file not found in $PATH" if exc.errno == errno.ENOENT else exc.strerror
    return (
        "error executing command in container: OCI runtime exec failed: exec failed: "
        f'unable to start container process: exec: "{command}": {reason}: unknown'
    )


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _exit_code(code: int) -> int:
    """A return code as a shell reports it (128 + n for signal n)."""
    return 128 - code if code < 0 else code
