"""``pods/portforward``: SPDY tunnelled through a WebSocket, as kubectl 1.3x asks for it.

kubectl asks for the subprotocol ``SPDY/3.1+portforward.k8s.io`` and then speaks SPDY
(:mod:`.spdy_framing`) inside the WebSocket's binary messages. Each local connection it accepts
becomes two streams sharing a ``requestID`` header: an ``error`` stream, which the
server closes when the forwarding ends (after a message if it failed, worded as the
kubelet words it), and a ``data`` stream carrying the bytes both ways. The emulator
connects to the pod's IP (each pod has its own loopback address, :mod:`.podnet`) at
the stream's ``port``, where a real kubelet connects to ``localhost`` inside the pod's
network namespace; the connect error after the kubelet's prefix is Linux's, not
containerd's longer text.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from . import spdy_framing as spdy

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
_CHUNK = 32 * 1024
_CANCEL = 5  # RST_STREAM status CANCEL


@dataclass
class _Stream:
    id: int
    headers: dict[str, str]
    incoming: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    closed: bool = False  # this side sent its FIN (or the stream was reset)


@dataclass
class _Pair:
    error: _Stream | None = None
    data: _Stream | None = None


class Session:
    """One ``kubectl port-forward`` connection to a pod at ``ip``."""

    def __init__(self, ws: web.WebSocketResponse, ip: str, pod_name: str, uid: str) -> None:
        self.ws = ws
        self.ip = ip
        self.pod_name = pod_name
        self.uid = uid
        self.codec = spdy.HeaderCodec()
        self.streams: dict[int, _Stream] = {}
        self.pairs: dict[str, _Pair] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    async def send(self, frame: bytes) -> None:
        async with self._lock:
            with contextlib.suppress(ConnectionResetError):
                await self.ws.send_bytes(frame)

    async def run(self) -> None:
        """Serve frames until the client goes away, then end every forwarding."""
        reader = spdy.FrameReader()
        try:
            async for message in self.ws:
                if message.type != WSMsgType.BINARY:
                    continue
                for frame in reader.feed(message.data):
                    if not await self._handle(frame):
                        return
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _handle(self, frame: spdy.Frame) -> bool:
        """Act on one frame; False once the client said GOAWAY."""
        if frame.kind == spdy.SYN_STREAM:
            await self._open(frame)
        elif frame.kind == spdy.DATA:
            if stream := self.streams.get(frame.stream):
                if frame.payload:
                    stream.incoming.put_nowait(frame.payload)
                if frame.fin:
                    stream.incoming.put_nowait(None)
        elif frame.kind == spdy.RST_STREAM:
            if stream := self.streams.pop(frame.stream, None):
                stream.closed = True
                stream.incoming.put_nowait(None)
        elif frame.kind == spdy.PING:
            await self.send(spdy.ping(frame))
        elif frame.kind == spdy.GOAWAY:
            return False
        return True

    async def _open(self, frame: spdy.Frame) -> None:
        headers = self.codec.syn_stream(frame)
        stream = _Stream(frame.stream, headers)
        self.streams[stream.id] = stream
        await self.send(self.codec.syn_reply(stream.id, {}))
        if frame.fin:
            stream.incoming.put_nowait(None)
        kind, request = headers.get("streamtype"), headers.get("requestid", "")
        if kind not in {"error", "data"}:
            await self.send(spdy.rst_stream(stream.id, 1))
            return
        pair = self.pairs.setdefault(request, _Pair())
        setattr(pair, kind, stream)
        if pair.error is not None and pair.data is not None:
            del self.pairs[request]
            task = asyncio.create_task(self._forward(pair.error, pair.data))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _close(self, stream: _Stream, payload: bytes = b"") -> None:
        if not stream.closed:
            stream.closed = True
            await self.send(spdy.data(stream.id, payload, fin=True))

    async def _forward(self, error: _Stream, data: _Stream) -> None:
        """Copy ``data`` to and from the pod's port; close ``error`` at the end."""
        port = data.headers.get("port", "")
        try:
            reader, writer = await asyncio.open_connection(self.ip, int(port))
        except (OSError, ValueError) as exc:
            errno = exc.errno if isinstance(exc, OSError) else None
            reason = os.strerror(errno).lower() if errno else exc
            message = (
                f"error forwarding port {port} to pod {self.pod_name}, uid {self.uid}: "
                f"dial tcp4 {self.ip}:{port}: connect: {reason}"
            )
            await self._close(error, message.encode())
            await self._close(data)
            return
        upstream = asyncio.create_task(_copy_in(data, writer))
        try:
            while chunk := await reader.read(_CHUNK):
                if data.closed:
                    break
                await self.send(spdy.data(data.id, chunk))
            await self._close(data)
        finally:
            upstream.cancel()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            await self._close(error)
            self.streams.pop(data.id, None)
            self.streams.pop(error.id, None)


async def _copy_in(stream: _Stream, writer: asyncio.StreamWriter) -> None:
    """Write what the client sends on ``stream`` to the pod, then half-close."""
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        while (chunk := await stream.incoming.get()) is not None:
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


async def serve(request: web.Request, ip: str, pod_name: str, uid: str) -> web.StreamResponse:
    """Upgrade ``request`` and forward its streams to ``ip``."""
    ws = web.WebSocketResponse(protocols=(PROTOCOL,), max_msg_size=0)
    await ws.prepare(request)
    await Session(ws, ip, pod_name, uid).run()
    return ws
