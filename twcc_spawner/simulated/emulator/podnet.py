"""Loopback pod IPs: every pod gets its own 127.x.y.z address (x > 0).

Each allocator starts at a random address, so that emulators running at the same
time on one machine (parallel test runs) rarely hand out the same pod IP and port.
"""

from __future__ import annotations

import ipaddress
import random

_FIRST = int(ipaddress.IPv4Address("127.1.0.1"))
_LAST = int(ipaddress.IPv4Address("127.255.255.254"))


class PodIPs:
    """Allocates and frees unique loopback addresses."""

    def __init__(self) -> None:
        self._used: set[int] = set()
        self._next = random.randint(_FIRST, _LAST)

    def allocate(self) -> str:
        """A free address, avoiding .0 and .255 in the last octet."""
        for _ in range(_LAST - _FIRST):
            candidate, self._next = self._next, self._next + 1
            if self._next > _LAST:
                self._next = _FIRST
            if candidate not in self._used and candidate % 256 not in (0, 255):
                self._used.add(candidate)
                return str(ipaddress.IPv4Address(candidate))
        raise RuntimeError("no free pod IPs")

    def free(self, address: str) -> None:
        """Return an address to the pool."""
        self._used.discard(int(ipaddress.IPv4Address(address)))
