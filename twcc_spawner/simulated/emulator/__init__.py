"""SIMULATED Kubernetes API server with GPU nodes, for tests and the demo.

Never a real cluster: every node carries ``twcc.ai/simulated: "true"``.
"""

from .emulator import BANNER, CONTEXT, Emulator, ThreadedEmulator
from .faults import FaultRule

__all__ = ["BANNER", "CONTEXT", "Emulator", "FaultRule", "ThreadedEmulator"]
