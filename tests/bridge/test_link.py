"""The host link against the emulator on a real pty, and against a hostile fake MCU."""

from __future__ import annotations

import os
import random
import threading
import time
import tty

import pytest

from firmware_bridge import (
    Link,
    LinkClosed,
    LinkConfig,
    LinkConfigError,
    LinkDown,
    NakCode,
    NakError,
    OutOfRangeError,
    cobs,
)
from firmware_bridge.board import wait_until
from firmware_bridge.constants import PUMP_CLOSED, Board, EstopReason, MsgType
from firmware_bridge.emulator.core import McuCore, SensorReading
from firmware_bridge.errors import HandshakeError
from firmware_bridge.frame import FrameDecoder, encode_body
from firmware_bridge.messages import Ack, Drive, Hello, parse

FAST = LinkConfig(ack_timeout_ms=100, handshake_timeout_ms=2000, backoff_initial_ms=20,
                  backoff_max_ms=200, silence_timeout_ms=500)


@pytest.fixture
def link(emulator):
    with Link.open(emulator.port, config=FAST) as link:
        yield link


@pytest.fixture
def thread_errors():
    """Fail the test if any thread dies of an exception."""
    errors: list[BaseException] = []
    old = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    yield errors
    threading.excepthook = old
    assert errors == []


def test_handshake_reports_the_board_and_its_limits(link):
    assert link.connected
    assert link.mcu.board == Board.EMULATOR
    assert link.mcu.heartbeat_timeout_ms == 300
    assert link.stats.handshakes == 1


def test_commands_are_acknowledged_and_obeyed(emulator, link):
    with pytest.raises(NakError) as e:
        link.drive(0.2, 0.0, ttl_ms=500)
    assert e.value.code == NakCode.ESTOP_LATCHED  # every boot starts latched
    link.release()
    ack = link.drive(0.2, 0.5, ttl_ms=500)
    assert ack.acked_type == MsgType.DRIVE
    assert link.water(zone=2, duration_ms=400).acked_type == MsgType.WATER
    state = emulator.state()
    assert (state.motor_left_mmps, state.motor_right_mmps) == (125, 275)  # ω·track/2 = 75 mm/s
    assert state.pump_zone == 2
    assert wait_until(lambda: (t := link.latest_telemetry()) and t.pump_zone == 2, 1)
    link.stop()
    assert not emulator.state().motors_on and emulator.state().pump_zone == PUMP_CLOSED


def test_estop_latches_until_release(emulator, link):
    link.release()
    link.drive(0.1, 0, 800)
    link.estop()
    state = emulator.state()
    assert state.estop_latched and state.estop_reasons == EstopReason.HOST_REQUEST
    assert not state.motors_on
    with pytest.raises(NakError):
        link.water(0, 100)
    link.release()
    assert not emulator.state().estop_latched


def test_out_of_range_is_refused_before_sending(link):
    link.release()
    sent = link.stats.frames_tx
    for bad in [lambda: link.drive(0.6, 0, 100), lambda: link.drive(0.1, 0, 0),
                lambda: link.drive(0.1, 0, 1001), lambda: link.drive(float("nan"), 0, 100),
                lambda: link.water(4, 100), lambda: link.water(0, 30_001),
                lambda: link.water(0, 1.5)]:
        with pytest.raises(OutOfRangeError):
            bad()
    assert link.stats.frames_tx - sent <= 2  # only heartbeats went out meanwhile


def test_the_mcu_refuses_what_the_host_would_not_send(link):
    link.release()
    with pytest.raises(NakError) as e:
        link.request(Drive(600, 0, 100))
    assert e.value.code == NakCode.OUT_OF_RANGE
    assert link.stats.naks == {"OUT_OF_RANGE": 1}


def test_telemetry_arrives_by_callback_queue_and_latest(emulator):
    seen = []
    with Link.open(emulator.port, config=FAST, on_telemetry=seen.append) as link:
        first = link.read_telemetry(timeout_s=1)
        assert wait_until(lambda: len(seen) >= 3, 1)
        assert link.latest_telemetry().uptime_ms >= first.uptime_ms
        assert link.stats.telemetry_rx >= 3


def test_a_failing_callback_is_counted_and_the_link_goes_on(emulator, thread_errors):
    def explode(t):
        raise RuntimeError("callback bug")

    with Link.open(emulator.port, config=FAST, on_telemetry=explode) as link:
        assert wait_until(lambda: link.stats.callback_errors >= 3, 1)
        link.release()
        assert link.connected


def test_stats_count_round_trips(link):
    link.release()
    for _ in range(20):
        link.stop()
    rt = link.stats.round_trip
    assert rt.count >= 21 and 0 < rt.median_ms <= rt.p99_ms <= rt.max_ms


def test_heartbeats_keep_the_failsafe_away(emulator, link):
    link.release()
    time.sleep(0.8)
    state = emulator.state()
    assert not state.estop_latched and state.failsafe_count == 0
    assert state.commands["Heartbeat"] >= 5


def test_closing_the_link_lets_the_failsafe_stop_the_robot(emulator):
    with Link.open(emulator.port, config=FAST) as link:
        link.release()
        link.drive(0.3, 0, ttl_ms=1000)
    assert wait_until(lambda: emulator.state().failsafe_count == 1, 2)
    state = emulator.state()
    assert not state.motors_on and state.estop_reasons & EstopReason.HEARTBEAT_LOST
    assert 300 <= state.failsafe_age_ms <= 400  # its thread may wake late on a busy machine


def test_close_is_safe_twice_and_commands_after_it_fail_clearly(emulator):
    link = Link.open(emulator.port, config=FAST)
    link.close()
    link.close()
    with pytest.raises(LinkClosed):
        link.stop()


def test_replug_reconnects_with_a_new_handshake(tmp_path):
    from firmware_bridge.emulator import Emulator

    with Emulator(link_path=tmp_path / "ttyGB") as emu, \
            Link.open(emu.port, config=FAST) as link:
        link.release()
        emu.replug(reset=True)  # the Uno resets when its port is opened again
        assert wait_until(lambda: link.stats.handshakes == 2 and link.connected, 5)
        assert link.stats.reconnects >= 1
        assert wait_until(lambda: (t := link.latest_telemetry()) and t.estop_latched, 1)
        link.release()
        assert link.water(1, 50).acked_type == MsgType.WATER


def test_a_command_in_flight_when_the_port_vanishes_is_reported_not_repeated(tmp_path):
    from firmware_bridge.emulator import Emulator

    with Emulator(link_path=tmp_path / "ttyGB") as emu, \
            Link.open(emu.port, config=LinkConfig(ack_timeout_ms=400, retries=5,
                                                  backoff_initial_ms=20)) as link:
        link.release()
        outcome: list[object] = []
        # The emulator stops answering (its port is swapped) while the Water waits for its Ack.
        t = threading.Thread(target=lambda: outcome.append(_try(lambda: link.water(0, 50))))
        emu._lock.acquire()
        try:
            t.start()
            time.sleep(0.05)
            emu._close_pty()
            emu._open_pty()
        finally:
            emu._lock.release()
        t.join(5)
        assert isinstance(outcome[0], LinkDown)
        assert wait_until(lambda: link.connected, 5)
        assert emu.state().waters == ()  # never executed twice, in fact never reached it


def test_a_retransmission_is_never_sent_into_a_renewed_session(emulator, link, monkeypatch):
    link.release()
    answers = link._on_answer
    monkeypatch.setattr(link, "_on_answer", lambda a: None)  # the Water's Ack gets lost

    def count(name: str, n: int = 1) -> None:
        if name == "retries":  # between waiting and resending: the MCU rebooted, say
            with link._write_lock:
                link._epoch += 1

    monkeypatch.setattr(link, "_count", count)
    with pytest.raises(LinkDown, match="renewed"):
        link.water(1, 50)
    monkeypatch.setattr(link, "_on_answer", answers)
    assert len(emulator.state().waters) == 1, "executed once, never retransmitted"


def test_commands_from_many_threads_go_one_at_a_time(emulator, link):
    link.release()
    in_flight, most = [0], [0]
    send = link._request

    def tracked(*args):
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        try:
            return send(*args)
        finally:
            in_flight[0] -= 1

    link._request = tracked
    threads = [threading.Thread(target=lambda: [link.stop() for _ in range(5)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most[0] == 1 and link.stats.timeouts == 0


def _try(fn):
    try:
        return fn()
    except Exception as e:
        return e


def test_mcu_reset_is_noticed(emulator, link):
    assert wait_until(lambda: link.latest_telemetry() is not None, 1)
    time.sleep(0.1)
    emulator.reset()
    assert wait_until(lambda: link.stats.mcu_resets == 1, 2)


def test_handshake_without_an_mcu_fails_clearly():
    with pytest.raises(HandshakeError, match="no HelloReply"):
        Link.open("loop://", config=LinkConfig(handshake_timeout_ms=300))


def test_opening_a_missing_port_fails_clearly(tmp_path):
    with pytest.raises(LinkDown, match="ttyNOPE"):
        Link.open(str(tmp_path / "ttyNOPE"))


@pytest.mark.parametrize("bad", [
    {"heartbeat_period_ms": 300}, {"ack_timeout_ms": 0}, {"retries": -1},
    {"silence_timeout_ms": 50}, {"baudrate": "fast"}, {"retries": True},
])
def test_link_config_is_validated(bad):
    with pytest.raises(LinkConfigError, match=next(iter(bad))):
        LinkConfig(**bad)


class FakeMcu:
    """A hostile MCU on a pty: answers Hello (in protocol ``version``) and otherwise sends valid
    telemetry buried in random junk."""

    def __init__(self, version: int = 1, junk_per_frame: int = 200, seed: int = 0) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.slave = slave
        self.port = os.ttyname(slave)
        self.version, self.junk = version, junk_per_frame
        self.rng = random.Random(seed)
        self.core = McuCore(boot_ms=0, board=Board.EMULATOR)
        self.telemetry_sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def frame(self, message, seq) -> bytes:
        return cobs.encode(encode_body(message.TYPE, seq, message.to_payload(),
                                       version=self.version)) + b"\0"

    def run(self) -> None:
        decoder, seq, now = FrameDecoder(), 0, 0
        os.set_blocking(self.master, False)
        while not self.stop.is_set():
            time.sleep(0.005)
            now += 5
            try:
                data = os.read(self.master, 4096)
            except BlockingIOError:
                data = b""
            for item in decoder.feed(data):
                if not isinstance(item, Exception) and isinstance(parse(item), Hello):
                    seq += 1
                    os.write(self.master, self.frame(self.core._hello_reply(item.seq, now), seq))
            junk = bytes(self.rng.getrandbits(8) for _ in range(self.junk))
            seq += 1
            telemetry = self.core.telemetry(now, SensorReading())
            self.telemetry_sent += 1
            os.write(self.master, junk + b"\0" + self.frame(telemetry, seq))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        os.close(self.master)
        os.close(self.slave)


def test_a_stream_of_junk_never_crashes_the_link(thread_errors):
    mcu = FakeMcu(junk_per_frame=300)
    try:
        with Link.open(mcu.port, config=FAST) as link:
            time.sleep(1.5)
            stats = link.stats
            assert link.connected
            assert stats.resyncs > 0
            # each telemetry frame follows its own delimiter: the junk costs no telemetry
            assert stats.telemetry_rx >= mcu.telemetry_sent - 3
    finally:
        mcu.close()


def test_an_mcu_speaking_another_version_is_refused_clearly():
    mcu = FakeMcu(version=2, junk_per_frame=0)
    try:
        with pytest.raises(HandshakeError, match="another protocol version"):
            Link.open(mcu.port, config=LinkConfig(handshake_timeout_ms=500))
    finally:
        mcu.close()


def test_water_answer_arrives_exactly_once_per_call(emulator, link):
    link.release()
    acks = []
    for zone in range(4):
        acks.append(link.water(zone, 20))
        time.sleep(0.03)
    assert [a.acked_seq for a in acks] == [w.seq for w in emulator.state().waters]
    assert all(isinstance(a, Ack) for a in acks)


def test_a_command_refused_for_a_reused_seq_is_sent_again_under_a_new_one(emulator, link,
                                                                          monkeypatch):
    # As if the host's numbering had restarted without a new handshake: the next command goes
    # out under a seq the MCU still remembers for another command. The MCU refuses it without
    # running it (SEQ_REUSED), so the link may safely send it again under a fresh seq.
    link.release()
    first = link.water(1, 20)
    next_seq = link._next_seq
    reused = []

    def colliding() -> int:
        if threading.current_thread() is threading.main_thread() and not reused:
            reused.append(first.acked_seq)
            return first.acked_seq
        return next_seq()

    monkeypatch.setattr(link, "_next_seq", colliding)
    time.sleep(0.05)  # the first watering ends
    second = link.water(2, 20)
    assert reused and second.acked_seq != first.acked_seq
    assert [(w.seq, w.zone) for w in emulator.state().waters] == \
        [(first.acked_seq, 1), (second.acked_seq, 2)]
    assert link.stats.naks == {"SEQ_REUSED": 1}
