"""The MCU's behaviour as a pure state machine: bytes and times in, bytes out.

This is the Python twin of ``firmware/src/gb_core.c``: same checks in the same order, same
integer arithmetic, same bytes out for the same inputs (a differential test holds them to it).
It knows no clock and no port; :mod:`firmware_bridge.emulator.device` drives it in real time.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from firmware_bridge.constants import (
    DEDUPE_DEPTH,
    DEDUPE_MAX_AGE_MS,
    DRIVE_TTL_MAX_MS,
    FIRMWARE_VERSION,
    HEARTBEAT_TIMEOUT_MS,
    LOW_BATTERY_MV,
    MAX_WHEEL_SPEED_MMPS,
    N_MOISTURE,
    NO_SEQ,
    OVERCURRENT_MA,
    PROTOCOL_VERSION,
    PUMP_CLOSED,
    PUMP_MAX_ON_MS,
    PUMP_REFILL_DIVISOR,
    TELEMETRY_PERIOD_MS,
    EstopAction,
    EstopReason,
    Fault,
    NakCode,
)
from firmware_bridge.errors import FrameError
from firmware_bridge.frame import Frame, FrameDecoder
from firmware_bridge.messages import (
    HOST_TO_MCU,
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
    encode,
    parse,
)
from firmware_bridge.safety import (
    PUMP_BUDGET_FULL,
    pump_budget_after,
    range_check,
    wheel_speeds_mmps,
)

_U16 = 0xFFFF


@dataclass(frozen=True)
class SensorReading:
    """What the MCU's sensors say at one instant (the HAL's output)."""

    left_ticks: int = 0
    right_ticks: int = 0
    current_left_ma: int = 0
    current_right_ma: int = 0
    bumper_left: bool = False
    bumper_right: bool = False
    moisture_permille: tuple[int, ...] = (0,) * N_MOISTURE
    battery_mv: int = 12_600
    rx_overflow: bool = False


@dataclass(frozen=True)
class WaterEvent:
    """A Water command the MCU executed (opened the pump for)."""

    seq: int
    zone: int
    duration_ms: int
    at_ms: int


@dataclass(frozen=True)
class _Remembered:
    """An acknowledged command, kept to recognise its retransmission (same seq, type, bytes)."""

    seq: int
    msg_type: int
    payload: bytes
    at_ms: int


@dataclass
class _Received:
    at_ms: int
    seq: int
    message: Message


@dataclass
class McuCore:
    """One MCU session from boot. Call :meth:`receive` with bytes and :meth:`tick` often."""

    boot_ms: int
    board: int
    tx_seq: int = 0
    estop_latched: bool = True
    estop_reasons: int = int(EstopReason.BOOT)
    last_hb_ms: int = 0  # the failsafe watches it while the latch is clear
    motor_left_mmps: int = 0
    motor_right_mmps: int = 0
    drive_until_ms: int = 0
    pump_zone: int = PUMP_CLOSED
    pump_until_ms: int = 0
    pump_budget: int = PUMP_BUDGET_FULL
    failsafe_count: int = 0
    failsafe_age_ms: int = 0
    rx_errors: int = 0
    rx_overflow: bool = False
    last_ms: int = 0
    telemetry_due_ms: int = 0
    frames_rx: int = 0
    frames_tx: int = 0
    commands: Counter[str] = field(default_factory=Counter)
    waters: deque[WaterEvent] = field(default_factory=lambda: deque(maxlen=10_000))
    received: deque[_Received] = field(default_factory=lambda: deque(maxlen=10_000))
    _remembered: deque[_Remembered] = field(default_factory=lambda: deque(maxlen=DEDUPE_DEPTH))
    _decoder: FrameDecoder = field(default_factory=FrameDecoder)

    def __post_init__(self) -> None:
        self.last_ms = self.boot_ms
        self.last_hb_ms = self.boot_ms
        self.drive_until_ms = self.boot_ms
        self.telemetry_due_ms = self.boot_ms + TELEMETRY_PERIOD_MS

    # --- inputs ---------------------------------------------------------------------------

    def announce(self) -> bytes:
        """The unasked HelloReply an MCU sends once at boot."""
        return self._send(self._hello_reply(NO_SEQ, self.boot_ms))

    def receive(self, data: bytes, now_ms: int) -> bytes:
        """Feed bytes that arrived at ``now_ms``; returns the bytes to send back."""
        self.advance(now_ms)
        out = bytearray()
        for item in self._decoder.feed(data):
            out += self._handle(item, now_ms)
        return bytes(out)

    def tick(self, now_ms: int, sensors: SensorReading) -> bytes:
        """Apply the time-based rules at ``now_ms``; returns a Telemetry frame when one is due."""
        self.advance(now_ms)
        self.rx_overflow |= sensors.rx_overflow  # reported once, in the next Telemetry
        if now_ms - self.telemetry_due_ms < 0:
            return b""
        self.telemetry_due_ms += TELEMETRY_PERIOD_MS
        if self.telemetry_due_ms - now_ms <= 0:
            self.telemetry_due_ms = now_ms + TELEMETRY_PERIOD_MS
        message = self.telemetry(now_ms, sensors)
        self.rx_overflow = False
        return self._send(message)

    def advance(self, now_ms: int) -> None:
        """Let time pass: pump budget, heartbeat failsafe, Drive and pump expiry."""
        dt = now_ms - self.last_ms
        if dt < 0:
            return  # time never runs backwards here; ignore a stale call
        prev = self.last_ms
        self.last_ms = now_ms
        on_ms = 0
        if self.pump_zone != PUMP_CLOSED:
            on_ms = min(self.pump_until_ms, now_ms) - prev
        self.pump_budget = pump_budget_after(self.pump_budget, dt, on_ms)
        # Watched only while unlatched: latched, everything is off already. The release that
        # clears the latch is itself a Heartbeat, so the watch starts fresh.
        if not self.estop_latched and now_ms - self.last_hb_ms >= HEARTBEAT_TIMEOUT_MS:
            self.estop_latched = True
            self.estop_reasons |= int(EstopReason.HEARTBEAT_LOST)
            self.failsafe_count = (self.failsafe_count + 1) & _U16
            self.failsafe_age_ms = min(now_ms - self.last_hb_ms, _U16)
        if now_ms - self.drive_until_ms >= 0:
            self.motor_left_mmps = self.motor_right_mmps = 0
        if self.pump_zone != PUMP_CLOSED and now_ms - self.pump_until_ms >= 0:
            self.pump_zone = PUMP_CLOSED
        if self.estop_latched:
            self._halt()

    # --- state ----------------------------------------------------------------------------

    def telemetry(self, now_ms: int, s: SensorReading) -> Telemetry:
        faults = Fault(0)
        if s.current_left_ma >= OVERCURRENT_MA:
            faults |= Fault.OVERCURRENT_LEFT
        if s.current_right_ma >= OVERCURRENT_MA:
            faults |= Fault.OVERCURRENT_RIGHT
        if s.battery_mv < LOW_BATTERY_MV:
            faults |= Fault.LOW_BATTERY
        if self.rx_overflow:
            faults |= Fault.RX_OVERFLOW
        pump_on = self.pump_zone != PUMP_CLOSED
        return Telemetry(
            uptime_ms=(now_ms - self.boot_ms) & 0xFFFFFFFF,
            left_ticks=_i32(s.left_ticks), right_ticks=_i32(s.right_ticks),
            motor_left_mmps=self.motor_left_mmps, motor_right_mmps=self.motor_right_mmps,
            current_left_ma=min(s.current_left_ma, _U16),
            current_right_ma=min(s.current_right_ma, _U16),
            bumper_bits=int(s.bumper_left) | int(s.bumper_right) << 1,
            pump_zone=self.pump_zone,
            pump_remaining_ms=self.pump_until_ms - now_ms if pump_on else 0,
            pump_budget_ms=self.pump_budget // PUMP_REFILL_DIVISOR,
            moisture_permille=tuple(min(max(m, 0), _U16) for m in s.moisture_permille),
            battery_mv=min(max(s.battery_mv, 0), _U16),
            estop_latched=self.estop_latched, estop_reasons=self.estop_reasons,
            fault_flags=int(faults), failsafe_count=self.failsafe_count,
            failsafe_age_ms=self.failsafe_age_ms, rx_errors=self.rx_errors,
        )

    def next_deadline_ms(self) -> int:
        """The earliest time at which :meth:`tick` has something to do."""
        times = [self.telemetry_due_ms]
        if not self.estop_latched:
            times.append(self.last_hb_ms + HEARTBEAT_TIMEOUT_MS)
        if self.motor_left_mmps or self.motor_right_mmps:
            times.append(self.drive_until_ms)
        if self.pump_zone != PUMP_CLOSED:
            times.append(self.pump_until_ms)
        return min(times)

    # --- frames ---------------------------------------------------------------------------

    def _handle(self, item: Frame | FrameError, now_ms: int) -> bytes:
        if isinstance(item, FrameError):
            self.rx_errors = (self.rx_errors + 1) & _U16
            code = {"bad_crc": NakCode.BAD_CRC, "bad_version": NakCode.BAD_VERSION}.get(item.reason)
            if code is None:
                return b""  # nothing readable to answer to
            return self._send(Nak(item.seq or 0, item.msg_type or 0, code))
        if item.msg_type not in HOST_TO_MCU:
            return self._reject(item, NakCode.UNKNOWN_TYPE)
        try:
            message = parse(item)
        except FrameError:
            return self._reject(item, NakCode.BAD_LENGTH)
        self.frames_rx += 1
        self.commands[type(message).__name__] += 1
        self.received.append(_Received(now_ms, item.seq, message))
        if isinstance(message, Hello):
            self._remembered.clear()
            return self._send(self._hello_reply(item.seq, now_ms))
        memorable = _memorable(message, item.seq)
        if memorable:
            remembered = self._recall(item.seq, now_ms)
            if remembered is not None:
                if (remembered.msg_type, remembered.payload) == (item.msg_type, item.payload):
                    # a retransmission: answer again, do nothing again
                    return self._send(Ack(item.seq, item.msg_type))
                # another command under a remembered seq: run neither twice
                return self._send(Nak(item.seq, item.msg_type, NakCode.SEQ_REUSED))
        answer = self._execute(message, item.seq, now_ms)
        if answer is None:
            return b""
        if memorable and isinstance(answer, Ack):  # a refusal changed nothing: judged again
            self._remembered.append(_Remembered(item.seq, item.msg_type, item.payload, now_ms))
        return self._send(answer)

    def _recall(self, seq: int, now_ms: int) -> _Remembered | None:
        """The remembered command with ``seq`` if one is young enough (at most one is)."""
        for r in self._remembered:
            if r.seq == seq and now_ms - r.at_ms <= DEDUPE_MAX_AGE_MS:
                return r
        return None

    def _reject(self, frame: Frame, code: NakCode) -> bytes:
        self.rx_errors = (self.rx_errors + 1) & _U16
        return self._send(Nak(frame.seq, frame.msg_type, code))

    def _execute(self, m: Message, seq: int, now_ms: int) -> Ack | Nak | None:
        def nak(code: NakCode) -> Nak:
            return Nak(seq, m.TYPE, code)

        if range_check(m) is not None:
            return nak(NakCode.OUT_OF_RANGE)
        if isinstance(m, Heartbeat):
            self.last_hb_ms = now_ms
            if m.estop_action == EstopAction.NONE:
                return None
            if m.estop_action == EstopAction.REQUEST:
                self.estop_latched = True
                self.estop_reasons |= int(EstopReason.HOST_REQUEST)
                self._halt()
            else:
                self.estop_latched = False
                self.estop_reasons = 0
        elif isinstance(m, Drive):
            if self.estop_latched:
                return nak(NakCode.ESTOP_LATCHED)
            self.motor_left_mmps, self.motor_right_mmps = wheel_speeds_mmps(m.v_mmps,
                                                                            m.omega_mradps)
            self.drive_until_ms = now_ms + m.ttl_ms
        elif isinstance(m, Water):
            if self.estop_latched:
                return nak(NakCode.ESTOP_LATCHED)
            too_long = m.duration_ms * PUMP_REFILL_DIVISOR > self.pump_budget
            if self.pump_zone != PUMP_CLOSED or too_long:
                return nak(NakCode.BUSY)
            self.pump_zone = m.zone
            self.pump_until_ms = now_ms + m.duration_ms
            self.waters.append(WaterEvent(seq, m.zone, m.duration_ms, now_ms))
        elif isinstance(m, Stop):
            self._halt()
        return Ack(seq, m.TYPE)

    def _halt(self) -> None:
        self.motor_left_mmps = self.motor_right_mmps = 0
        self.drive_until_ms = self.last_ms
        self.pump_zone = PUMP_CLOSED

    def _hello_reply(self, hello_seq: int, now_ms: int) -> HelloReply:
        return HelloReply(
            hello_seq=hello_seq, protocol_version=PROTOCOL_VERSION, board=self.board,
            firmware_version=FIRMWARE_VERSION, uptime_ms=(now_ms - self.boot_ms) & 0xFFFFFFFF,
            heartbeat_timeout_ms=HEARTBEAT_TIMEOUT_MS, drive_ttl_max_ms=DRIVE_TTL_MAX_MS,
            max_wheel_speed_mmps=MAX_WHEEL_SPEED_MMPS, pump_max_on_ms=PUMP_MAX_ON_MS,
            telemetry_period_ms=TELEMETRY_PERIOD_MS,
        )

    def _send(self, message: Message) -> bytes:
        seq = self.tx_seq
        self.tx_seq = (self.tx_seq + 1) & _U16
        self.frames_tx += 1
        return encode(message, seq)


def _memorable(m: Message, seq: int) -> bool:
    """Whether the answer memory applies. Not to a Stop or an e-stop request: they act every time
    (stopping twice is harmless; a Stop that does not stop is not). Not to a plain Heartbeat,
    which is not answered. Not to NO_SEQ, which has nothing to recognise a retransmission by."""
    if seq == NO_SEQ or isinstance(m, Stop):
        return False
    if isinstance(m, Heartbeat):
        return m.estop_action not in (EstopAction.NONE, EstopAction.REQUEST)
    return True


def _i32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31
