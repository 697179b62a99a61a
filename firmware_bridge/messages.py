"""The typed message set: one frozen dataclass per message type, units in every field name.

Each class lists its wire fields once (``WIRE``: name and struct code, little-endian, packed);
the codec, the payload sizes in the C header and the golden vectors all follow from that list.
Encoding checks only what the wire can carry (an i16 is an i16); the safety limits are
:mod:`firmware_bridge.safety`'s job, so that tests can still send what an MCU must refuse.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from typing import ClassVar

from firmware_bridge.constants import (
    N_MOISTURE,
    PUMP_CLOSED,
    EstopAction,
    EstopReason,
    Fault,
    MsgType,
)
from firmware_bridge.errors import FrameError, OutOfRangeError
from firmware_bridge.frame import Frame, encode_frame


class Message:
    """Base of all messages. Subclasses are frozen dataclasses with ``TYPE`` and ``WIRE``."""

    TYPE: ClassVar[MsgType]
    WIRE: ClassVar[tuple[tuple[str, str], ...]] = ()
    _STRUCT: ClassVar[struct.Struct]

    _NAMES: ClassVar[tuple[str, ...]]
    _ARRAYS: ClassVar[tuple[tuple[int, int], ...]]  # (position, count) of array fields

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._STRUCT = struct.Struct("<" + "".join(code for _, code in cls.WIRE))
        cls._NAMES = tuple(name for name, _ in cls.WIRE)
        cls._ARRAYS = tuple((i, int(code[:-1])) for i, (_, code) in enumerate(cls.WIRE)
                            if code[0].isdigit())

    @classmethod
    def payload_size(cls) -> int:
        return cls._STRUCT.size

    def to_payload(self) -> bytes:
        values: list[object] = []
        for name, code in self.WIRE:
            value = getattr(self, name)
            values.extend(value if code[0].isdigit() else (value,))
        try:
            return self._STRUCT.pack(*values)
        except struct.error:
            raise OutOfRangeError(self._which_field_is_bad()) from None

    @classmethod
    def from_payload(cls, payload: bytes) -> Message:
        if len(payload) != cls._STRUCT.size:
            raise FrameError("bad_length", f"{cls.TYPE.name} payload is {len(payload)} bytes, "
                             f"expected {cls._STRUCT.size}", msg_type=int(cls.TYPE))
        values = cls._STRUCT.unpack(payload)
        for position, count in cls._ARRAYS:  # fold array fields back into tuples (Telemetry)
            values = (*values[:position], values[position:position + count],
                      *values[position + count:])
        # Frozen dataclasses have no validation in __init__; filling __dict__ directly is the
        # same object, built several times faster (this runs for every received frame).
        message = object.__new__(cls)
        message.__dict__.update(zip(cls._NAMES, values, strict=True))
        return message

    def _which_field_is_bad(self) -> str:
        for name, code in self.WIRE:
            value = getattr(self, name)
            try:
                struct.pack("<" + code, *(value if code[0].isdigit() else (value,)))
            except struct.error:
                return f"{type(self).__name__}.{name}={value!r} does not fit the wire ({code})"
        return f"{type(self).__name__} does not fit the wire"

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


# --- host → MCU -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Hello(Message):
    """Start of a session: the MCU answers HelloReply and forgets remembered sequence numbers."""

    TYPE = MsgType.HELLO


@dataclass(frozen=True)
class Heartbeat(Message):
    """Keeps the failsafe from firing; can also request or release the e-stop latch."""

    TYPE = MsgType.HEARTBEAT
    WIRE = (("estop_action", "B"),)
    estop_action: int = EstopAction.NONE


@dataclass(frozen=True)
class Drive(Message):
    """Drive at linear ``v_mmps`` and angular ``omega_mradps`` (CCW positive) for ``ttl_ms``."""

    TYPE = MsgType.DRIVE
    WIRE = (("v_mmps", "h"), ("omega_mradps", "h"), ("ttl_ms", "H"))
    v_mmps: int
    omega_mradps: int
    ttl_ms: int


@dataclass(frozen=True)
class Water(Message):
    """Open the valve of ``zone`` and run the pump for ``duration_ms``."""

    TYPE = MsgType.WATER
    WIRE = (("zone", "B"), ("duration_ms", "H"))
    zone: int
    duration_ms: int


@dataclass(frozen=True)
class Stop(Message):
    """Stop the motors and close the pump now."""

    TYPE = MsgType.STOP


# --- MCU → host -----------------------------------------------------------------------------

@dataclass(frozen=True)
class HelloReply(Message):
    """Answer to Hello (``hello_seq``), or sent unasked at boot with ``hello_seq`` 0xFFFF."""

    TYPE = MsgType.HELLO_REPLY
    WIRE = (
        ("hello_seq", "H"), ("protocol_version", "B"), ("board", "B"),
        ("firmware_version", "H"), ("uptime_ms", "I"), ("heartbeat_timeout_ms", "H"),
        ("drive_ttl_max_ms", "H"), ("max_wheel_speed_mmps", "H"), ("pump_max_on_ms", "H"),
        ("telemetry_period_ms", "H"),
    )
    hello_seq: int
    protocol_version: int
    board: int
    firmware_version: int
    uptime_ms: int
    heartbeat_timeout_ms: int
    drive_ttl_max_ms: int
    max_wheel_speed_mmps: int
    pump_max_on_ms: int
    telemetry_period_ms: int


@dataclass(frozen=True)
class Telemetry(Message):
    """The MCU's state, sent every TELEMETRY_PERIOD_MS."""

    TYPE = MsgType.TELEMETRY
    WIRE = (
        ("uptime_ms", "I"), ("left_ticks", "i"), ("right_ticks", "i"),
        ("motor_left_mmps", "h"), ("motor_right_mmps", "h"),
        ("current_left_ma", "H"), ("current_right_ma", "H"), ("bumper_bits", "B"),
        ("pump_zone", "B"), ("pump_remaining_ms", "H"), ("pump_budget_ms", "H"),
        ("moisture_permille", f"{N_MOISTURE}H"), ("battery_mv", "H"),
        ("estop_latched", "?"), ("estop_reasons", "B"), ("fault_flags", "B"),
        ("failsafe_count", "H"), ("failsafe_age_ms", "H"), ("rx_errors", "H"),
    )
    uptime_ms: int
    left_ticks: int  # cumulative encoder ticks, wrap at 32 bits
    right_ticks: int
    motor_left_mmps: int  # what the motors are commanded now, after every safety rule
    motor_right_mmps: int
    current_left_ma: int
    current_right_ma: int
    bumper_bits: int  # bit 0 left, bit 1 right
    pump_zone: int  # PUMP_CLOSED when off
    pump_remaining_ms: int
    pump_budget_ms: int  # how long a Water may be right now (rate limit)
    moisture_permille: tuple[int, ...]
    battery_mv: int
    estop_latched: bool
    estop_reasons: int  # EstopReason bits
    fault_flags: int  # Fault bits
    failsafe_count: int  # heartbeat timeouts since boot
    failsafe_age_ms: int  # heartbeat age when the last one fired (≥ HEARTBEAT_TIMEOUT_MS)
    rx_errors: int  # frames the MCU rejected since boot

    @property
    def bumper_left(self) -> bool:
        return bool(self.bumper_bits & 1)

    @property
    def bumper_right(self) -> bool:
        return bool(self.bumper_bits & 2)

    @property
    def pump_on(self) -> bool:
        return self.pump_zone != PUMP_CLOSED

    @property
    def motors_on(self) -> bool:
        return self.motor_left_mmps != 0 or self.motor_right_mmps != 0

    @property
    def reasons(self) -> EstopReason:
        return EstopReason(self.estop_reasons)

    @property
    def faults(self) -> Fault:
        return Fault(self.fault_flags)


@dataclass(frozen=True)
class Ack(Message):
    """Command ``acked_seq`` of type ``acked_type`` was accepted (or had been, if a retry)."""

    TYPE = MsgType.ACK
    WIRE = (("acked_seq", "H"), ("acked_type", "B"))
    acked_seq: int
    acked_type: int


@dataclass(frozen=True)
class Nak(Message):
    """Command ``acked_seq`` was refused with NakCode ``error``."""

    TYPE = MsgType.NAK
    WIRE = (("acked_seq", "H"), ("acked_type", "B"), ("error", "B"))
    acked_seq: int
    acked_type: int
    error: int


MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (Hello, Heartbeat, Drive, Water, Stop, HelloReply, Telemetry, Ack, Nak)
}
HOST_TO_MCU = frozenset(t for t in MESSAGE_TYPES if t < 0x80)


def parse(frame: Frame) -> Message:
    """The typed message in a checked frame. Raises :class:`FrameError` (unknown type, length)."""
    cls = MESSAGE_TYPES.get(frame.msg_type)
    if cls is None:
        raise FrameError("unknown_type", f"type 0x{frame.msg_type:02x}", seq=frame.seq,
                         msg_type=frame.msg_type)
    try:
        return cls.from_payload(frame.payload)
    except FrameError as e:
        e.seq = frame.seq
        raise


def encode(message: Message, seq: int) -> bytes:
    """The wire bytes (COBS frame with delimiter) of ``message`` with sequence number ``seq``."""
    return encode_frame(message.TYPE, seq, message.to_payload())

