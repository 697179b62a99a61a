"""The firmware bridge: the serial protocol to the robot's microcontroller, the host link, the MCU
emulator and (in ``firmware/``) the reference AVR firmware. Imports nothing from ``robot``.

Public API (docs/protocol.md):

- :class:`Link`, :class:`LinkConfig`, :class:`LinkStats` — the host side over pyserial.
- :class:`Emulator` (``firmware_bridge.emulator``) — the MCU on a pty, in-process or as a process.
- The messages (:class:`Drive`, :class:`Water`, :class:`Telemetry`, …) and the exceptions.
"""

from firmware_bridge.constants import PROTOCOL_VERSION, EstopAction, EstopReason, Fault, NakCode
from firmware_bridge.errors import (
    BridgeError,
    FrameError,
    HandshakeError,
    LinkClosed,
    LinkDown,
    LinkTimeout,
    NakError,
    OutOfRangeError,
)
from firmware_bridge.link import Link, LinkConfig, LinkConfigError, LinkStats, RoundTrip
from firmware_bridge.messages import (
    Ack,
    Drive,
    Heartbeat,
    Hello,
    HelloReply,
    Message,
    Nak,
    Stop,
    Telemetry,
    Water,
)
from firmware_bridge.odometry import OdometryTracker, Pose

__all__ = [
    "PROTOCOL_VERSION", "Ack", "BridgeError", "Drive", "EstopAction", "EstopReason", "Fault",
    "FrameError", "HandshakeError", "Heartbeat", "Hello", "HelloReply", "Link", "LinkClosed",
    "LinkConfig", "LinkConfigError", "LinkDown", "LinkStats", "LinkTimeout", "Message", "Nak",
    "NakCode", "NakError", "OdometryTracker", "OutOfRangeError", "Pose", "RoundTrip", "Stop",
    "Telemetry", "Water",
]
