"""Safety and robustness in real time, through the real link and a fault-injecting proxy, against
each MCU we have: the Python emulator, the C firmware core built for the host, and (slow) the AVR
firmware in QEMU. Times are asserted as the MCU measured them, never as absolute host latencies."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import serial

from firmware_bridge import Link, LinkConfig, LinkDown, LinkTimeout, NakError
from firmware_bridge.board import host_firmware, missing_tools, qemu_board
from firmware_bridge.constants import (
    HEARTBEAT_TIMEOUT_MS,
    NO_SEQ,
    PUMP_CLOSED,
    TELEMETRY_PERIOD_MS,
    EstopAction,
    EstopReason,
    Fault,
    MsgType,
    NakCode,
)
from firmware_bridge.emulator import Emulator
from firmware_bridge.faultproxy import FaultProxy, Faults
from firmware_bridge.frame import FrameDecoder
from firmware_bridge.messages import (
    Ack,
    Drive,
    Heartbeat,
    Hello,
    HelloReply,
    Nak,
    Stop,
    Telemetry,
    Water,
    encode,
    parse,
)
from firmware_bridge.safety import wheel_speeds_mmps

# How late a failsafe may fire, as the MCU measures it: the MCU checks every loop (about 1 ms) and
# the emulator wakes for the deadline. On top of that, whatever stall the MCU itself demonstrably
# had: QEMU starved of CPU stops running its MCU while the MCU's clock goes on (docs/protocol.md,
# section 8), which shows as a jump in Telemetry uptime.
FAILSAFE_SLACK_MS = 40


class TelemetryLog:
    """An on_telemetry callback that remembers when which uptime arrived."""

    def __init__(self) -> None:
        self.items: list[tuple[float, int]] = []

    def __call__(self, t) -> None:
        self.items.append((time.monotonic(), t.uptime_ms))

    def stall_ms(self, since: float) -> int:
        """The longest the MCU went without sending Telemetry since ``since``, beyond its period."""
        ups = [u for w, u in self.items if w >= since - 0.2]
        gaps = [b - a for a, b in itertools.pairwise(ups)]
        return max(0, max(gaps, default=0) - TELEMETRY_PERIOD_MS)


def failsafe_bound_ms(log: TelemetryLog, since: float) -> int:
    return HEARTBEAT_TIMEOUT_MS + FAILSAFE_SLACK_MS + log.stall_ms(since)


def unlatched(link: Link, command):
    """Run ``command`` after a release; again if a heartbeat loss the host did not cause (a
    stalled QEMU) latched the MCU in between."""
    for _ in range(3):
        link.release()
        try:
            return command()
        except NakError as e:
            if e.code != NakCode.ESTOP_LATCHED:
                raise
    return command()


@dataclass
class Mcu:
    kind: str
    port: str
    emulator: Emulator | None = None

    def config(self, **kw) -> LinkConfig:
        base = {"ack_timeout_ms": 500 if self.kind == "qemu" else 100,
                "retries": 5 if self.kind == "qemu" else 3,
                "handshake_timeout_ms": 5000, "backoff_initial_ms": 50}
        return LinkConfig(**{**base, **kw})


@pytest.fixture(params=["emulator", "firmware-host", pytest.param("qemu", marks=pytest.mark.slow)])
def mcu(request: pytest.FixtureRequest) -> Iterator[Mcu]:
    if request.param == "emulator":
        with Emulator() as emu:
            yield Mcu("emulator", emu.port, emu)
    elif request.param == "firmware-host":
        exe = request.getfixturevalue("host_build") / "gb_host_firmware"
        with host_firmware(exe) as board:
            yield Mcu("firmware-host", board.port)
    else:
        reason = missing_tools("qemu")
        if reason:
            pytest.skip(f"QEMU unavailable: {reason}")
        elf = request.getfixturevalue("avr_build") / "firmware-sim.elf"
        with qemu_board(elf) as board:
            yield Mcu("qemu", board.port)


def telemetry_where(link: Link, predicate, timeout_s: float = 3.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        t = link.read_telemetry(timeout_s=max(0.01, deadline - time.monotonic()))
        if predicate(t):
            return t
    raise AssertionError("no telemetry matched")


def test_handshake_drive_water_telemetry(mcu):
    with FaultProxy(mcu.port) as proxy, Link.open(proxy.port, config=mcu.config()) as link:
        unlatched(link, lambda: link.drive(0.2, 0.0, ttl_ms=600))
        unlatched(link, lambda: link.water(1, 2000))
        t = telemetry_where(link, lambda t: t.left_ticks > 0 and t.pump_zone == 1)
        assert (t.motor_left_mmps, t.motor_right_mmps) == (200, 200)
        with pytest.raises(NakError) as e:
            link.water(2, 100)
        assert e.value.code in (NakCode.BUSY, NakCode.ESTOP_LATCHED)  # pump busy (or a stall)
        t = telemetry_where(link, lambda t: not t.motors_on)
        # Expiry is not a fault: only a heartbeat loss (a stalled QEMU can cause one) latches.
        assert t.estop_latched == (t.failsafe_count > 0)
        link.stop()


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


# (v m/s, ω rad/s): straight both ways, turning both ways forward and backward, spinning on the
# spot, and docs/protocol.md's worked example (Drive 250/-500/200). QEMU 7.2 froze on every one
# but the first, in the compiler's signed multiply helper (docs/protocol.md, section 8).
MANOEUVRES = [(0.2, 0.0), (-0.1, 0.0), (0.1, 1.0), (0.1, -1.0), (-0.1, 0.5), (-0.1, -0.5),
              (0.0, 2.0), (0.25, -0.5)]


def test_drives_both_ways_turns_both_ways_and_reverses(mcu):
    with Link.open(mcu.port, config=mcu.config()) as link:
        for v_mps, omega_radps in MANOEUVRES:  # each straight after the last: reversing too
            left, right = wheel_speeds_mmps(round(v_mps * 1000), round(omega_radps * 1000))
            unlatched(link, lambda v=v_mps, w=omega_radps: link.drive(v, w, ttl_ms=1000))
            link.clear_telemetry()
            first = telemetry_where(link, lambda t, lr=(left, right):
                                    (t.motor_left_mmps, t.motor_right_mmps) == lr)
            t = telemetry_where(link, lambda t, f=first: t.uptime_ms >= f.uptime_ms + 150)
            moved = (_sign(t.left_ticks - first.left_ticks),
                     _sign(t.right_ticks - first.right_ticks))
            assert moved == (_sign(left), _sign(right)), (v_mps, omega_radps, first, t)
        link.stop()
        assert not telemetry_where(link, lambda t: not t.motors_on).motors_on


class RawLine:
    """The MCU's pty without a Link: whole bursts in one write, every frame that comes back."""

    def __init__(self, port: str) -> None:
        self.port = serial.Serial(port, 115_200, timeout=0.05)
        self.decoder = FrameDecoder()

    def read(self, seconds: float, until=None, heartbeats: bool = False) -> list:
        """Frames for ``seconds`` or until ``until(frames)``; with ``heartbeats``, a plain
        Heartbeat every 100 ms meanwhile."""
        found: list = []
        deadline = time.monotonic() + seconds
        next_heartbeat = 0.0
        while time.monotonic() < deadline and not (until and until(found)):
            if heartbeats and time.monotonic() >= next_heartbeat:
                self.port.write(encode(Heartbeat(EstopAction.NONE), NO_SEQ))
                next_heartbeat = time.monotonic() + 0.1
            for item in self.decoder.feed(self.port.read(4096)):
                assert not isinstance(item, Exception), item
                found.append(parse(item))
        return found

    def handshake(self) -> None:
        self.port.write(b"\0")
        for seq in range(1000, 1050):  # QEMU notices a new client only about once a second
            self.port.write(encode(Hello(), seq))
            if any(isinstance(m, HelloReply) and m.hello_seq == seq for m in self.read(0.2)):
                return
        raise AssertionError("no HelloReply")

    def close(self) -> None:
        self.port.close()


@pytest.mark.parametrize("n_stops", [24, 100])
def test_a_burst_of_commands_in_one_write_loses_no_byte(mcu, n_stops):
    """24 Stops (192 bytes) in one write overflowed the QEMU build's receive ring during its idle
    pause: 16 Acks, overflow flag set. docs/protocol.md, section 8, says no byte is lost."""
    line = RawLine(mcu.port)
    try:
        line.handshake()
        line.port.write(b"".join(encode(Stop(), seq) for seq in range(1, n_stops + 1)))
        out = line.read(20, until=lambda found: sum(isinstance(m, Ack) for m in found) >= n_stops)
        out += line.read(3 * TELEMETRY_PERIOD_MS / 1000)  # the overflow flag comes in Telemetry
    finally:
        line.close()
    assert [m.acked_seq for m in out if isinstance(m, Ack | Nak)] == list(range(1, n_stops + 1))
    assert all(isinstance(m, Ack) for m in out if isinstance(m, Ack | Nak))
    telemetry = [m for m in out if isinstance(m, Telemetry)]
    assert telemetry and telemetry[-1].rx_errors == 0
    assert not any(t.fault_flags & Fault.RX_OVERFLOW for t in telemetry)


def test_stop_and_estop_act_whatever_their_seq(mcu):
    """A Stop or an e-stop request resent under a seq the MCU remembers, and a Stop without a
    seq (NO_SEQ) sent twice: each stops the motors and the pump. They used to be acknowledged
    and ignored (docs/protocol.md, section 3)."""
    line = RawLine(mcu.port)
    seqs = itertools.count(1)

    def answer_to(seq: int, found: list) -> bool:
        return any(isinstance(m, Ack | Nak) and m.acked_seq == seq for m in found)

    def send(message, seq: int | None = None) -> tuple[Ack | Nak, list]:
        seq = next(seqs) if seq is None else seq
        line.port.write(encode(message, seq))
        out = line.read(5, until=lambda found: answer_to(seq, found), heartbeats=True)
        answers = [m for m in out if isinstance(m, Ack | Nak) and m.acked_seq == seq]
        assert answers, f"no answer to {message} seq {seq}"
        return answers[0], out

    def running() -> None:  # released, driving and watering (again if a QEMU stall latched it)
        for _ in range(5):
            send(Heartbeat(EstopAction.RELEASE))
            send(Drive(200, 0, 1000))
            send(Water(0, 5000))
            out = line.read(2, heartbeats=True, until=lambda found: any(
                isinstance(m, Telemetry) and m.motors_on and m.pump_on for m in found))
            if any(isinstance(m, Telemetry) and m.motors_on and m.pump_on for m in out):
                return
        raise AssertionError("could not get the MCU driving and watering")

    def next_telemetry() -> list:
        out = line.read(2, heartbeats=True, until=lambda found: sum(
            isinstance(m, Telemetry) for m in found) >= 2)
        return [m for m in out if isinstance(m, Telemetry)]

    try:
        line.handshake()
        for stop in (Stop(), Heartbeat(EstopAction.REQUEST)):
            running()
            ack, _ = send(stop)
            remembered = ack.acked_seq
            running()
            ack, _ = send(stop, seq=remembered)  # a seq the MCU has just seen
            assert ack == Ack(remembered, stop.TYPE)
            after = next_telemetry()
            assert after and all(not t.motors_on and not t.pump_on for t in after), (stop, after)
            assert after[-1].estop_latched == isinstance(stop, Heartbeat)
        for _ in range(2):
            running()
            ack, _ = send(Stop(), seq=NO_SEQ)
            assert ack == Ack(NO_SEQ, MsgType.STOP)
            after = next_telemetry()
            assert after and all(not t.motors_on and not t.pump_on for t in after), after
    finally:
        line.close()


def test_failsafe_fires_within_its_bound_every_time_the_host_goes_silent(mcu):
    log = TelemetryLog()
    with FaultProxy(mcu.port) as proxy, \
            Link.open(proxy.port, config=mcu.config(), on_telemetry=log) as link:
        for round_ in range(3):
            unlatched(link, lambda: link.drive(0.1, 0.0, ttl_ms=1000))
            unlatched(link, lambda r=round_: link.water(r, 5000))
            link.clear_telemetry()
            before = link.read_telemetry().failsafe_count
            silent_at = time.monotonic()
            proxy.silence(True)
            t = telemetry_where(link, lambda t, b=before: t.failsafe_count > b)
            proxy.silence(False)
            assert t.estop_latched and t.reasons & EstopReason.HEARTBEAT_LOST
            assert not t.motors_on and t.pump_zone == PUMP_CLOSED
            assert HEARTBEAT_TIMEOUT_MS <= t.failsafe_age_ms <= failsafe_bound_ms(log, silent_at)
            link.stop()


def test_reopening_the_port_gets_a_new_handshake_and_finds_the_failsafe_fired(mcu):
    with Link.open(mcu.port, config=mcu.config()) as link:
        unlatched(link, lambda: link.drive(0.2, 0.0, ttl_ms=1000))
    time.sleep(0.5)  # the host is away for longer than the heartbeat timeout
    with Link.open(mcu.port, config=mcu.config()) as link:
        assert link.mcu.uptime_ms > 0
        t = telemetry_where(link, lambda t: t.failsafe_count >= 1)  # more if QEMU stalled
        assert t.estop_latched and t.reasons & EstopReason.HEARTBEAT_LOST and not t.motors_on
        assert unlatched(link, lambda: link.water(0, 10))
        assert link.stats.mcu_resets == 0


def test_commands_survive_a_faulty_line(mcu):
    """A long command sequence over a line that drops, flips, duplicates and delays bytes, with
    silent spells: every Water is acknowledged exactly once or reported failed, and the
    failsafe fires each time the host goes silent."""
    faults = Faults(drop=0.004, flip=0.004, duplicate=0.002, delay_ms=(0, 2))
    steps = 16 if mcu.kind == "qemu" else 40
    cfg = mcu.config(heartbeat_period_ms=50, retries=6)
    log = TelemetryLog()
    with FaultProxy(mcu.port, to_mcu=faults, to_host=faults, seed=7) as proxy, \
            Link.open(proxy.port, config=cfg, on_telemetry=log) as link:
        acked, failed, silences = [], [], 0
        for step in range(steps):
            if step % (steps // 2) == steps // 2 - 1:  # go silent, twice per run
                link.clear_telemetry()
                before = link.read_telemetry().failsafe_count
                silent_at = time.monotonic()
                proxy.silence(True)
                t = telemetry_where(link, lambda t, b=before: t.failsafe_count > b, 5)
                proxy.silence(False)
                assert HEARTBEAT_TIMEOUT_MS <= t.failsafe_age_ms <= \
                    failsafe_bound_ms(log, silent_at)
                silences += 1
            try:
                acked.append(unlatched(link, lambda s=step: link.water(s % 4, 20)).acked_seq)
                link.stop()
            except (LinkTimeout, LinkDown, NakError) as e:  # reported failed
                failed.append(e)
        stats = link.stats
    assert silences == 2
    assert len(acked) + len(failed) == steps
    assert len(acked) >= steps * 3 // 4, failed
    assert stats.resyncs + stats.retries > 0  # the faults did happen
    if mcu.emulator is not None:
        executed = [w.seq for w in mcu.emulator.state().waters]
        assert len(executed) == len(set(executed))  # nothing ran twice
        assert set(acked) <= set(executed)  # everything acknowledged ran
