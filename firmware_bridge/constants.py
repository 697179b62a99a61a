"""Every number the host, the emulator and the C firmware must agree on — defined once, here.

The firmware's header ``firmware/include/gb_constants.h`` is generated from this module
(``python -m firmware_bridge.gen_header``); a test fails when the committed header drifts.
docs/protocol.md explains what each value means.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

PROTOCOL_VERSION = 1

# --- framing -------------------------------------------------------------------------------
HEADER_SIZE = 4  # version u8, type u8, seq u16 little-endian
CRC_SIZE = 2  # CRC-16/CCITT-FALSE, big-endian, over header + payload
MAX_PAYLOAD_SIZE = 64
MAX_BODY_SIZE = HEADER_SIZE + MAX_PAYLOAD_SIZE + CRC_SIZE
# COBS adds one byte per started 254-byte block; the delimiter adds one more.
MAX_FRAME_SIZE = MAX_BODY_SIZE + (MAX_BODY_SIZE + 253) // 254 + 1
NO_SEQ = 0xFFFF  # "no sequence number": never remembered; the hello_seq of the boot HelloReply

# --- safety limits (enforced on both sides of the link) ------------------------------------
HEARTBEAT_TIMEOUT_MS = 300  # no Heartbeat for this long: motors stop, pump closes, latch set
DRIVE_TTL_MAX_MS = 1000  # a Drive is obeyed for at most this long
MAX_WHEEL_SPEED_MMPS = 500  # per wheel, after mixing linear and angular velocity
PUMP_MAX_ON_MS = 30_000  # longest single watering, and the size of the pump budget
PUMP_REFILL_DIVISOR = 4  # closed pump regains 1 ms of on-time per this many ms: ≤ 25 % duty
N_ZONES = 4  # watering zones (valves behind one pump)
N_MOISTURE = 4  # soil-moisture probes, one per zone
DEDUPE_DEPTH = 8  # acknowledged commands an MCU remembers to re-answer a retransmission
# ... for this long: a retransmission comes within seconds, while the host's seq comes round
# again only after 65,535 frames (~1.8 h of heartbeats), when the old answer must not be reused.
DEDUPE_MAX_AGE_MS = 10_000

# --- timing --------------------------------------------------------------------------------
TELEMETRY_PERIOD_MS = 50
HEARTBEAT_PERIOD_MS = 100  # the host's default; anything well under the timeout works

# --- robot geometry shared by odometry on the host and the simulated sensors ---------------
TRACK_WIDTH_MM = 300  # distance between the wheel contact points
TICKS_PER_M = 1200  # encoder ticks per metre of wheel travel

# --- telemetry sentinels --------------------------------------------------------------------
PUMP_CLOSED = 0xFF  # pump_zone value when the pump is off


class MsgType(IntEnum):
    """Message type byte. Host → MCU below 0x80, MCU → host from 0x80."""

    HELLO = 0x01
    HEARTBEAT = 0x02
    DRIVE = 0x03
    WATER = 0x04
    STOP = 0x05
    HELLO_REPLY = 0x81
    TELEMETRY = 0x82
    ACK = 0x83
    NAK = 0x84


class NakCode(IntEnum):
    """Why an MCU refused a frame (the error byte of a Nak)."""

    BAD_CRC = 1
    UNKNOWN_TYPE = 2
    OUT_OF_RANGE = 3
    ESTOP_LATCHED = 4
    BUSY = 5
    BAD_LENGTH = 6
    BAD_VERSION = 7
    SEQ_REUSED = 8  # another command under the seq of a remembered one: not a retransmission


class EstopAction(IntEnum):
    """What a Heartbeat asks of the e-stop latch."""

    NONE = 0
    REQUEST = 1
    RELEASE = 2


class EstopReason(IntFlag):
    """Why the e-stop latch is set (telemetry ``estop_reasons``); cleared together on release."""

    BOOT = 0x01
    HEARTBEAT_LOST = 0x02
    HOST_REQUEST = 0x04


class Fault(IntFlag):
    """Conditions the MCU reports but does not act on (telemetry ``fault_flags``)."""

    OVERCURRENT_LEFT = 0x01
    OVERCURRENT_RIGHT = 0x02
    LOW_BATTERY = 0x04
    RX_OVERFLOW = 0x08


class Board(IntEnum):
    """What answered the handshake (HelloReply ``board``)."""

    ATMEGA328P = 1  # the firmware with the hardware HAL
    ATMEGA328P_SIM = 2  # the firmware with simulated sensors (QEMU)
    HOST_SIM = 3  # the firmware core compiled for the host, simulated sensors
    EMULATOR = 4  # the Python emulator


# Thresholds behind the fault flags (the MCU only reports them).
OVERCURRENT_MA = 2500
LOW_BATTERY_MV = 11_000

FIRMWARE_VERSION = 0x0100  # major << 8 | minor, reported in HelloReply
