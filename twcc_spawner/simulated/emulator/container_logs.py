"""Container log files as a container runtime keeps them: one per run, a timestamp per line.

Each run of a container (``restartCount`` n) writes ``log-<container>-<n>`` in its pod's
directory, in the CRI logging format: ``<RFC 3339 nano time> stdout <F|P> <text>``, F for
a line that ended, P for a partial one. The kubelet's reader task (:func:`capture`) copies a
process's output there; :func:`read_entries` parses a file back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_CHUNK = 64 * 1024


def log_path(pod_root: Path, container: str, run: int) -> Path:
    """The log file of run ``run`` (its restart count) of ``container``."""
    return pod_root / f"log-{container}-{run}"


def timestamp(at: datetime | None = None) -> str:
    """RFC 3339 with nanoseconds, as the kubelet prints with ``timestamps=true``."""
    at = at or datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}000Z"


def parse_timestamp(text: str) -> datetime:
    """The time of an RFC 3339 timestamp (nanoseconds cut to microseconds)."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    micro = int((fraction + "000000")[:6]) if fraction else 0
    return datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC, microsecond=micro)


@dataclass(frozen=True)
class Entry:
    """One record of a log file."""

    time: str
    text: str  # with its newline unless partial


def read_entries(path: Path, offset: int = 0) -> tuple[list[Entry], int]:
    """The complete records of a log file from byte ``offset``, and the offset after them."""
    try:
        with path.open("rb") as log_file:
            log_file.seek(offset)
            data = log_file.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    entries = []
    for line in complete.decode(errors="replace").split("\n"):
        if not line:
            continue
        time, _, rest = line.partition(" ")
        _, _, rest = rest.partition(" ")  # the stream
        tag, _, text = rest.partition(" ")
        entries.append(Entry(time, text if tag == "P" else text + "\n"))
    return entries, offset + len(complete)


def plain_text(path: Path) -> str:
    """A log file's output as the process wrote it."""
    return "".join(entry.text for entry in read_entries(path)[0])


async def capture(stream: asyncio.StreamReader, path: Path) -> None:
    """Copy ``stream`` into the log file ``path`` until EOF, stamping every line."""
    pending = b""
    with path.open("a", encoding="utf-8") as out:
        while chunk := await stream.read(_CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                out.write(f"{timestamp()} stdout F {line.decode(errors='replace')}\n")
            if len(pending) >= _CHUNK:
                out.write(f"{timestamp()} stdout P {pending.decode(errors='replace')}\n")
                pending = b""
            out.flush()
        if pending:
            out.write(f"{timestamp()} stdout P {pending.decode(errors='replace')}\n")
