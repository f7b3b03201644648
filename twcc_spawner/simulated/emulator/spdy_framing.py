"""The part of SPDY/3.1 that the server end of ``kubectl port-forward`` needs.

kubectl's client (spdystream) opens streams with SYN_STREAM, sends DATA, half-closes with
a FIN flag, resets with RST_STREAM and pings; the server answers each SYN_STREAM with a
SYN_REPLY and echoes pings. Header blocks are name/value pairs compressed by one zlib
stream per direction, primed with the protocol's dictionary (from the ``spdy-py``
package). Flow control is not enforced: WINDOW_UPDATE and SETTINGS are read and ignored.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from spdy.dictionary import zdict as _DICTIONARY

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1,
    2,
    3,
    4,
    6,
    7,
    8,
    9,
)
DATA = 0  # not a control frame type: a data frame
FIN = 0x01
_HEADER = struct.Struct(">IB3s")
_WITH_STREAM = {SYN_STREAM, SYN_REPLY, RST_STREAM, WINDOW_UPDATE, HEADERS}
MAX_DATA = 0xFFFFFF


@dataclass(frozen=True)
class Frame:
    """One frame: ``kind`` is its control type or :data:`DATA`; ``stream`` its stream id
    (the ping id of a PING)."""

    kind: int
    flags: int
    stream: int
    payload: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FIN)


class FrameReader:
    """Splits a byte stream into frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data``."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= _HEADER.size:
            word, flags, length_bytes = _HEADER.unpack_from(self._buffer)
            length = int.from_bytes(length_bytes, "big")
            if len(self._buffer) < _HEADER.size + length:
                break
            payload = bytes(self._buffer[_HEADER.size : _HEADER.size + length])
            del self._buffer[: _HEADER.size + length]
            frames.append(_frame(word, flags, payload))
        return frames


def _frame(word: int, flags: int, payload: bytes) -> Frame:
    if not word & 0x80000000:
        return Frame(DATA, flags, word & 0x7FFFFFFF, payload)
    kind = word & 0xFFFF
    stream = 0
    if (kind in _WITH_STREAM or kind == PING) and len(payload) >= 4:
        stream = struct.unpack_from(">I", payload)[0] & (0x7FFFFFFF if kind != PING else 0xFFFFFFFF)
    return Frame(kind, flags, stream, payload)


def _head(word: int, flags: int, length: int) -> bytes:
    if length > MAX_DATA:
        raise ValueError(f"a SPDY frame carries at most {MAX_DATA} bytes, not {length}")
    return _HEADER.pack(word, flags, length.to_bytes(3, "big"))


def control(kind: int, payload: bytes, flags: int = 0) -> bytes:
    """A control frame."""
    return _head(0x80000000 | VERSION << 16 | kind, flags, len(payload)) + payload


def data(stream: int, payload: bytes = b"", fin: bool = False) -> bytes:
    """A data frame on ``stream`` (with FIN: the last this side sends on it)."""
    return _head(stream & 0x7FFFFFFF, FIN if fin else 0, len(payload)) + payload


def ping(frame: Frame) -> bytes:
    """The answer to a PING: the same id back."""
    return control(PING, frame.payload[:4])


def rst_stream(stream: int, status: int) -> bytes:
    """RST_STREAM (status 1: PROTOCOL_ERROR, 5: CANCEL...)."""
    return control(RST_STREAM, struct.pack(">II", stream & 0x7FFFFFFF, status))


class HeaderCodec:
    """The header blocks of one connection, each direction one zlib stream."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=_DICTIONARY)
        self._deflate = zlib.compressobj(zdict=_DICTIONARY)

    def syn_stream(self, frame: Frame) -> dict[str, str]:
        """The headers of a SYN_STREAM (lower-case names; several values joined by NUL)."""
        return self.decode(frame.payload[10:])

    def syn_reply(self, stream: int, headers: Mapping[str, str]) -> bytes:
        """A SYN_REPLY frame for ``stream``."""
        return control(SYN_REPLY, struct.pack(">I", stream & 0x7FFFFFFF) + self.encode(headers))

    def decode(self, block: bytes) -> dict[str, str]:
        """The headers of the next block the other side compressed."""
        raw = self._inflate.decompress(block)
        (count,), offset = struct.unpack_from(">I", raw), 4
        headers = {}
        for _ in range(count):
            name, offset = _string(raw, offset)
            value, offset = _string(raw, offset)
            headers[name.lower()] = value
        return headers

    def encode(self, headers: Mapping[str, str]) -> bytes:
        """``headers`` as the next block of this side's stream."""
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            for text in (name.lower(), value):
                encoded = text.encode()
                raw += struct.pack(">I", len(encoded)) + encoded
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def _string(raw: bytes, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from(">I", raw, offset)
    start = offset + 4
    return raw[start : start + length].decode(), start + length
