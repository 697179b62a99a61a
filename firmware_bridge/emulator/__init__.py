"""The MCU emulator: the firmware's behaviour in Python, on a real pseudo-terminal.

- :class:`Emulator` — in-process (a thread); ``feed()`` ground truth, ``state()`` to look inside.
- ``python -m firmware_bridge.emulator`` — the same as its own process, controlled by JSON lines
  on stdin (docs/protocol.md, section "Emulator").
- :class:`McuCore` — the pure state machine both run (the Python twin of firmware/src/gb_core.c).
"""

from firmware_bridge.emulator.core import McuCore, SensorReading, WaterEvent
from firmware_bridge.emulator.device import Emulator, EmulatorState, ReceivedCommand
from firmware_bridge.emulator.world import Feed, FeedError, World

__all__ = [
    "Emulator", "EmulatorState", "Feed", "FeedError", "McuCore", "ReceivedCommand",
    "SensorReading", "WaterEvent", "World",
]
