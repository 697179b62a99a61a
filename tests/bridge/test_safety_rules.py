"""Every safety rule, on the MCU core with injected time: once on the Python twin (the emulator's
core) and once on the C firmware core (through gb_tool). Same test, same expectations."""

from __future__ import annotations

import pytest

from firmware_bridge import cobs
from firmware_bridge.constants import (
    DEDUPE_MAX_AGE_MS,
    HEARTBEAT_TIMEOUT_MS,
    NO_SEQ,
    PUMP_CLOSED,
    PUMP_MAX_ON_MS,
    TELEMETRY_PERIOD_MS,
    Board,
    EstopAction,
    EstopReason,
    MsgType,
    NakCode,
)
from firmware_bridge.frame import encode_body, encode_frame
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
)

from .golden import GOLDEN, message_of
from .helpers import Session

HB = Heartbeat(EstopAction.NONE)
RELEASE = Heartbeat(EstopAction.RELEASE)


def answer(out: list) -> Ack | Nak:
    answers = [m for m in out if isinstance(m, Ack | Nak)]
    assert len(answers) == 1, out
    return answers[0]


def telemetry(s: Session) -> Telemetry:
    """The next Telemetry the core sends (ticks forward to it)."""
    for _ in range(TELEMETRY_PERIOD_MS + 1):
        found = [m for m in s.at(s.now_ms + 1) if isinstance(m, Telemetry)]
        if found:
            return found[-1]
    raise AssertionError("no telemetry")


def released(s: Session) -> Session:
    assert answer(s.send(RELEASE)) == Ack(s.seq, MsgType.HEARTBEAT)
    return s


def test_boot_announces_itself_latched(session):
    session.now_ms = 5000
    (reply,) = session.boot()
    assert isinstance(reply, HelloReply) and reply.hello_seq == NO_SEQ
    t = telemetry(session)
    assert t.estop_latched and t.reasons == EstopReason.BOOT


def test_hello_gets_the_limits(session):
    (reply,) = session.send(Hello())
    assert isinstance(reply, HelloReply)
    assert reply.hello_seq == session.seq and reply.board == Board.HOST_SIM
    assert (reply.heartbeat_timeout_ms, reply.pump_max_on_ms) == (HEARTBEAT_TIMEOUT_MS,
                                                                    PUMP_MAX_ON_MS)


def test_latched_mcu_refuses_drive_and_water_but_stops(session):
    assert answer(session.send(Drive(100, 0, 100))).error == NakCode.ESTOP_LATCHED
    assert answer(session.send(Water(0, 100))).error == NakCode.ESTOP_LATCHED
    assert isinstance(answer(session.send(Stop())), Ack)
    released(session)
    assert isinstance(answer(session.send(Drive(100, 0, 100))), Ack)


def test_heartbeat_timeout_stops_everything_and_latches(session):
    released(session)
    session.send(Drive(200, 0, 1000))
    session.send(Water(1, 5000))
    start = session.now_ms
    for k in (1, 2, 3):  # heartbeats every 250 ms keep it alive
        session.run_until(start + 250 * k, step_ms=5)
        assert session.send(HB) == []
    last_hb = session.now_ms
    t = telemetry(session)
    assert t.motors_on and t.pump_on and not t.estop_latched
    before = session.run_until(last_hb + HEARTBEAT_TIMEOUT_MS - 1)
    assert all(not m.estop_latched for m in before if isinstance(m, Telemetry))
    session.run_until(last_hb + HEARTBEAT_TIMEOUT_MS + TELEMETRY_PERIOD_MS)
    t = telemetry(session)
    assert t.estop_latched and t.reasons == EstopReason.HEARTBEAT_LOST
    assert not t.motors_on and t.pump_zone == PUMP_CLOSED
    assert t.failsafe_count == 1 and t.failsafe_age_ms == HEARTBEAT_TIMEOUT_MS


@pytest.mark.parametrize("latch", ["boot", "estop", "failsafe"])
def test_the_failsafe_watches_only_while_unlatched(session, latch):
    # While latched the motors and the pump are already off: a heartbeat loss then stops
    # nothing, so it neither fires the failsafe nor counts as one (it used to, once a Heartbeat
    # had arrived while latched). The release that clears the latch starts the watch.
    expected = {"boot": EstopReason.BOOT, "estop": EstopReason.HOST_REQUEST,
                "failsafe": EstopReason.HEARTBEAT_LOST}[latch]
    if latch == "estop":
        released(session)
        session.send(Heartbeat(EstopAction.REQUEST))
    elif latch == "failsafe":
        released(session)
        session.run_until(session.now_ms + HEARTBEAT_TIMEOUT_MS)
    count = int(latch == "failsafe")
    for _ in range(3):  # Heartbeats while latched ...
        session.send(HB)
        session.run_until(session.now_ms + 100)
    session.run_until(session.now_ms + 2 * HEARTBEAT_TIMEOUT_MS)  # ... then silence
    t = telemetry(session)
    assert t.estop_latched and t.reasons == expected
    assert t.failsafe_count == count
    released(session)  # now it watches
    session.run_until(session.now_ms + HEARTBEAT_TIMEOUT_MS)
    t = telemetry(session)
    assert t.reasons == EstopReason.HEARTBEAT_LOST and t.failsafe_count == count + 1


def test_hello_changes_nothing_but_the_answer_memory(session):
    # A host that reconnects mid-drive says Hello: the Drive runs out its ttl, the pump its
    # duration, and the failsafe keeps watching the Heartbeats.
    released(session)
    session.send(Drive(200, 500, 1000))
    session.send(Water(3, 2000))
    before = telemetry(session)
    (reply,) = session.send(Hello())
    assert isinstance(reply, HelloReply)
    after = telemetry(session)
    assert (after.motor_left_mmps, after.motor_right_mmps, after.pump_zone) == \
        (before.motor_left_mmps, before.motor_right_mmps, 3)
    assert not after.estop_latched
    session.run_until(session.now_ms + HEARTBEAT_TIMEOUT_MS)
    t = telemetry(session)
    assert t.estop_latched and t.failsafe_count == 1 and not t.motors_on


def test_failsafe_never_fires_early(session):
    released(session)
    for _ in range(20):  # 20 heartbeats, each 299 ms after the last
        session.run_until(session.now_ms + HEARTBEAT_TIMEOUT_MS - 1, step_ms=7)
        session.send(HB)
    assert not telemetry(session).estop_latched


def test_latch_holds_until_an_explicit_release(session):
    released(session)
    session.run_until(session.now_ms + 400)  # silence: latched
    for _ in range(5):
        session.send(HB)
        session.run_until(session.now_ms + 50)
    assert telemetry(session).estop_latched
    assert answer(session.send(Drive(100, 0, 100))).error == NakCode.ESTOP_LATCHED
    released(session)
    t = telemetry(session)
    assert not t.estop_latched and t.estop_reasons == 0


def test_host_estop_request_latches(session):
    released(session)
    session.send(Drive(100, 50, 500))
    assert isinstance(answer(session.send(Heartbeat(EstopAction.REQUEST))), Ack)
    t = telemetry(session)
    assert t.estop_latched and t.reasons == EstopReason.HOST_REQUEST and not t.motors_on


def test_drive_expires_after_its_ttl(session):
    released(session)
    start = session.now_ms
    session.send(Drive(300, 0, 120))
    ticks = [m for m in session.run_until(start + 119) if isinstance(m, Telemetry)]
    assert ticks and all(m.motor_left_mmps == 300 for m in ticks), "driving until the TTL"
    session.send(HB)
    session.run_until(start + 120)
    t = telemetry(session)
    assert not t.motors_on and not t.estop_latched  # an expired Drive is not a fault


def test_wheel_speeds_come_from_the_differential_drive_mix(session):
    released(session)
    session.send(Drive(200, 1000, 500))  # 1 rad/s on a 300 mm track: ±150 mm/s
    t = telemetry(session)
    assert (t.motor_left_mmps, t.motor_right_mmps) == (50, 350)


@pytest.mark.parametrize("entry", GOLDEN["limits"],
                         ids=[f"{e['type']}{list(e['fields'].values())}" for e in GOLDEN["limits"]])
def test_limits_are_refused_never_clamped(session, entry):
    released(session)
    session.send(Drive(123, 0, 1000))  # a state an out-of-range command must not change
    reply = answer(session.send(message_of(entry)))
    if entry["verdict"] == "ok":
        assert isinstance(reply, Ack)
    else:
        assert reply == Nak(session.seq, MsgType[entry["type"]], NakCode.OUT_OF_RANGE)
        t = telemetry(session)
        assert (t.motor_left_mmps, t.pump_zone) == (123, PUMP_CLOSED)


def test_pump_runs_for_its_duration(session):
    released(session)
    start = session.now_ms
    session.send(Water(2, 200))
    t = telemetry(session)
    assert t.pump_zone == 2 and 0 < t.pump_remaining_ms <= 200
    for step in range(start + 10, start + 200, 50):
        session.run_until(step)
        session.send(HB)
    session.run_until(start + 200)
    assert telemetry(session).pump_zone == PUMP_CLOSED


def test_pump_is_busy_while_running_and_rate_limited_after(session):
    released(session)
    assert isinstance(answer(session.send(Water(0, PUMP_MAX_ON_MS))), Ack)
    assert answer(session.send(Water(1, 10))).error == NakCode.BUSY  # already running
    session.run_until(session.now_ms + 200, step_ms=50)
    session.send(HB)
    session.send(Stop())
    t = telemetry(session)
    assert t.pump_zone == PUMP_CLOSED and t.pump_budget_ms < PUMP_MAX_ON_MS - 150
    # 200 ms of pumping cost 200 ms of budget: a full-length run must wait for the refill
    assert answer(session.send(Water(0, PUMP_MAX_ON_MS))).error == NakCode.BUSY
    assert isinstance(answer(session.send(Water(0, 1000))), Ack)  # a short one still fits
    session.send(Stop())
    for _ in range(30):  # closed, the budget refills at a quarter of real time
        session.run_until(session.now_ms + 100, step_ms=50)
        session.send(HB)
    assert isinstance(answer(session.send(Water(0, PUMP_MAX_ON_MS))), Ack)


def test_while_the_pump_runs_its_budget_falls_with_the_time_left(session):
    # docs/protocol.md: pump_budget_ms - pump_remaining_ms is what is left when it ends.
    released(session)
    session.send(Water(0, 1000))
    during = []
    for _ in range(3):
        session.run_until(session.now_ms + 200, step_ms=50)
        session.send(HB)
        during.append(telemetry(session))
    assert all(t.pump_on for t in during)
    assert {t.pump_budget_ms - t.pump_remaining_ms for t in during} == {PUMP_MAX_ON_MS - 1000}
    assert answer(session.send(Water(1, 1))).error == NakCode.BUSY


def test_retransmitted_water_is_answered_again_but_runs_once(session):
    released(session)
    first = session.send(Water(3, 100))
    again = session.send(Water(3, 100), seq=session.seq)
    assert answer(first) == answer(again) == Ack(session.seq, MsgType.WATER)
    # A new seq would have been BUSY: the retransmission did not start a second run.
    assert answer(session.send(Water(3, 100))).error == NakCode.BUSY


def test_a_remembered_answer_expires_so_a_reused_seq_is_a_new_command(session):
    # The host's seq comes round again after 65,535 frames (~1.8 h of heartbeats): by then a
    # frame with an old seq and type is a new command and must run, not get the old answer.
    released(session)
    assert isinstance(answer(session.send(Water(2, 50))), Ack)
    seq = session.seq
    for _ in range(DEDUPE_MAX_AGE_MS // 100 + 1):  # keep the heartbeat alive meanwhile
        session.run_until(session.now_ms + 100, step_ms=50)
        session.send(HB)
    assert isinstance(answer(session.send(Water(3, 1000), seq=seq)), Ack)
    session.send(HB)
    assert telemetry(session).pump_zone == 3, "the command with the reused seq ran"


def test_a_refusal_is_not_remembered_so_its_retransmission_is_judged_again(session):
    # A refused command changed nothing, so running its checks again is safe; replaying the old
    # refusal would refuse a command that is now fine.
    nak = answer(session.send(Drive(100, 0, 500)))
    assert nak.error == NakCode.ESTOP_LATCHED
    released(session)
    assert answer(session.send(Drive(100, 0, 500), seq=nak.acked_seq)) == \
        Ack(nak.acked_seq, MsgType.DRIVE)
    assert telemetry(session).motor_left_mmps == 100


def test_an_out_of_range_refusal_is_not_replayed_for_a_valid_command_with_its_seq(session):
    released(session)
    nak = answer(session.send(Drive(600, 0, 500)))
    assert nak.error == NakCode.OUT_OF_RANGE
    assert answer(session.send(Drive(200, 0, 500), seq=nak.acked_seq)) == \
        Ack(nak.acked_seq, MsgType.DRIVE)
    assert telemetry(session).motor_left_mmps == 200


def test_a_different_command_under_a_remembered_seq_is_refused_and_changes_nothing(session):
    released(session)
    assert isinstance(answer(session.send(Water(1, 5000))), Ack)
    seq = session.seq
    assert answer(session.send(Water(2, 100), seq=seq)) == \
        Nak(seq, MsgType.WATER, NakCode.SEQ_REUSED)
    assert answer(session.send(Drive(200, 0, 500), seq=seq)) == \
        Nak(seq, MsgType.DRIVE, NakCode.SEQ_REUSED)
    t = telemetry(session)
    assert (t.pump_zone, t.motors_on) == (1, False)
    assert t.rx_errors == 0  # a well-formed frame: a refusal, not a line error
    assert answer(session.send(Water(1, 5000), seq=seq)) == Ack(seq, MsgType.WATER)  # the retry


@pytest.mark.parametrize("stop", [Stop(), Heartbeat(EstopAction.REQUEST)], ids=["stop", "estop"])
def test_stop_and_estop_act_again_when_resent_with_a_remembered_seq(session, stop):
    released(session)
    assert answer(session.send(stop)) == Ack(session.seq, stop.TYPE)
    seq = session.seq
    released(session)
    assert isinstance(answer(session.send(Drive(200, 0, 1000))), Ack)
    assert isinstance(answer(session.send(Water(0, 5000))), Ack)
    t = telemetry(session)
    assert t.motors_on and t.pump_on
    assert answer(session.send(stop, seq=seq)) == Ack(seq, stop.TYPE)  # the same Ack ...
    t = telemetry(session)
    assert not t.motors_on and t.pump_zone == PUMP_CLOSED  # ... and it stopped again
    assert t.estop_latched == isinstance(stop, Heartbeat)


def test_stop_without_a_seq_always_stops(session):
    stop_no_seq = bytes.fromhex("070105ffff048b00")  # Stop with seq NO_SEQ, as an outsider sent it
    released(session)
    assert session.raw(stop_no_seq) == [Ack(NO_SEQ, MsgType.STOP)]
    assert isinstance(answer(session.send(Drive(200, 0, 1000))), Ack)
    assert session.raw(stop_no_seq) == [Ack(NO_SEQ, MsgType.STOP)]
    assert not telemetry(session).motors_on


def test_commands_without_a_seq_are_never_remembered(session):
    released(session)
    assert answer(session.send(Water(1, 5000), seq=NO_SEQ)) == Ack(NO_SEQ, MsgType.WATER)
    session.send(Stop())
    assert answer(session.send(Water(2, 5000), seq=NO_SEQ)) == Ack(NO_SEQ, MsgType.WATER)
    assert telemetry(session).pump_zone == 2, "the second Water without a seq ran"


def test_hello_forgets_remembered_answers(session):
    released(session)
    session.send(Water(1, 50))
    seq = session.seq
    session.run_until(session.now_ms + 60)
    session.send(Hello())
    session.send(HB)
    assert isinstance(answer(session.send(Water(1, 50), seq=seq)), Ack)
    assert telemetry(session).pump_zone == 1  # it ran again: a new session, a new command


@pytest.mark.parametrize(("body", "code"), [
    (lambda: bytearray(encode_body(MsgType.WATER, 77, b"\x01\x10\x00")), NakCode.BAD_CRC),
    (lambda: encode_body(MsgType.STOP, 77, b"", version=9), NakCode.BAD_VERSION),
    (lambda: encode_body(0x42, 77, b""), NakCode.UNKNOWN_TYPE),
    (lambda: encode_body(MsgType.TELEMETRY, 77, b"\x00" * 45), NakCode.UNKNOWN_TYPE),
    (lambda: encode_body(MsgType.DRIVE, 77, b"\x00" * 5), NakCode.BAD_LENGTH),
], ids=["bad crc", "bad version", "unknown type", "mcu-to-host type", "bad length"])
def test_bad_frames_are_refused_with_a_reason(session, body, code):
    data = body()
    if code == NakCode.BAD_CRC:
        data[4] ^= 0x40
    out = session.raw(cobs.encode(bytes(data)) + b"\0")
    assert answer(out).error == code
    assert answer(out).acked_seq == 77
    assert answer(out).acked_type == data[1]  # the type byte as read, known or not
    assert telemetry(session).rx_errors == 1


def test_unreadable_bytes_are_counted_not_answered(session):
    assert session.raw(b"\x05\x01\x00" + b"\x02\x02\x02\x00" + b"\x01" * 200 + b"\x00") == []
    assert telemetry(session).rx_errors == 3  # cobs, short, overflow
    assert isinstance(answer(session.send(Stop())), Ack)  # and the next frame is fine


def test_telemetry_comes_every_period(session):
    start = session.now_ms
    sent = [m for m in session.run_until(start + 10 * TELEMETRY_PERIOD_MS)
            if isinstance(m, Telemetry)]
    assert len(sent) == 10
    assert [m.uptime_ms for m in sent] == [sent[0].uptime_ms + k * TELEMETRY_PERIOD_MS
                                           for k in range(10)]


def test_frames_from_the_encoder_are_what_the_core_accepts(session):
    assert session.raw(b"\0" + encode_frame(MsgType.HEARTBEAT, 5, b"\x02")) == \
        [Ack(5, MsgType.HEARTBEAT)]
