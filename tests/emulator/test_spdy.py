"""The emulator's SPDY/3.1 framing, read back by itself and by spdy-py's independent reader.

The real client, kubectl port-forward, is in test_exec.py.
"""

from __future__ import annotations

import struct

from spdy.conn import Framer

from twcc_spawner.simulated.emulator import spdy_framing as spdy


def syn_stream(codec: spdy.HeaderCodec, stream: int, headers: dict[str, str]) -> bytes:
    """A client's SYN_STREAM: stream id, associated id, priority and slot, header block."""
    return spdy.control(
        spdy.SYN_STREAM, struct.pack(">IIBB", stream, 0, 0, 0) + codec.encode(headers)
    )


def test_frames_fed_a_byte_at_a_time_come_out_whole() -> None:
    wire = spdy.data(3, b"abc", fin=True) + spdy.control(spdy.PING, struct.pack(">I", 7))
    reader = spdy.FrameReader()
    frames = [frame for byte in wire for frame in reader.feed(bytes([byte]))]
    assert [(f.kind, f.stream, f.fin, f.payload) for f in frames] == [
        (spdy.DATA, 3, True, b"abc"),
        (spdy.PING, 7, False, struct.pack(">I", 7)),
    ]
    assert spdy.ping(frames[1]) == spdy.control(spdy.PING, struct.pack(">I", 7))


def test_header_blocks_share_one_compression_stream_per_direction() -> None:
    client, server = spdy.HeaderCodec(), spdy.HeaderCodec()
    first = {"streamtype": "error", "port": "8000", "requestid": "0"}
    second = {**first, "streamtype": "data"}
    reader = spdy.FrameReader()
    frames = reader.feed(syn_stream(client, 1, first) + syn_stream(client, 3, second))
    assert [(f.stream, server.syn_stream(f)) for f in frames] == [(1, first), (3, second)]


def test_an_independent_reader_understands_the_servers_frames() -> None:
    server = spdy.HeaderCodec()
    wire = (
        server.syn_reply(1, {})
        + server.syn_reply(3, {"x": "y"})
        + spdy.data(3, b"payload")
        + spdy.rst_stream(5, 5)
    )
    frames = Framer().read_frames(wire)
    assert [(f["type"], f["stream_id"], f["headers"]) for f in frames[:2]] == [
        (spdy.SYN_REPLY, 1, {}),
        (spdy.SYN_REPLY, 3, {"x": "y"}),
    ]
    assert (frames[2]["stream_id"], frames[2]["data"]) == (3, b"payload")
    assert (frames[3]["type"], frames[3]["stream_id"]) == (spdy.RST_STREAM, 5)
