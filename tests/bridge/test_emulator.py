"""The emulator's hooks for the desktop simulation: sensor feeds, state, process mode."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest

from firmware_bridge import Link, LinkConfig, OdometryTracker
from firmware_bridge.board import emulator_process, wait_until
from firmware_bridge.constants import HEARTBEAT_TIMEOUT_MS, PUMP_CLOSED, TICKS_PER_M, Fault
from firmware_bridge.emulator import FeedError, World
from tests.driving_host import start_driving_host

FAST = LinkConfig(handshake_timeout_ms=3000)


def fresh_telemetry(link, after_ms):
    """The first telemetry produced at least ``after_ms`` of MCU uptime from now."""
    start = link.read_telemetry().uptime_ms
    while True:
        t = link.read_telemetry()
        if t.uptime_ms >= start + after_ms:
            return t


def test_fed_sensors_reach_the_host(emulator):
    with Link.open(emulator.port, config=FAST) as link:
        emulator.feed(bumper_left=True, moisture_permille=[120, None, None, 990],
                      battery_mv=10_500, current_right_ma=2_600)
        t = fresh_telemetry(link, 50)
        assert (t.bumper_left, t.bumper_right) == (True, False)
        assert t.moisture_permille[0] == 120 and t.moisture_permille[3] == 990
        assert t.moisture_permille[1] == 400  # not fed: the model's value
        assert t.battery_mv == 10_500
        assert t.faults == Fault.LOW_BATTERY | Fault.OVERCURRENT_RIGHT
        emulator.feed(battery_mv=None, bumper_left=False)
        t = fresh_telemetry(link, 50)
        assert t.battery_mv > 12_000 and not t.bumper_left


def test_a_bad_feed_changes_nothing(emulator):
    before = emulator.state().sensors
    for bad in [{"bumper": True}, {"battery_mv": -1}, {"moisture_permille": [1, 2]},
                {"slip_left": 1.0}, {"pose": [0, 0]}, {"pose": [1e308, 0, 0]},
                {"pose": [10**400, 0, 0]}, {"stall_left": "yes"},
                {"bumper_left": True, "battery_mv": "full"}]:
        with pytest.raises(FeedError):
            emulator.feed(**bad)
    assert emulator.state().sensors == before


def test_watering_wets_the_zone_and_driving_turns_the_wheels(emulator):
    with Link.open(emulator.port, config=FAST) as link:
        link.release()
        link.water(2, 500)
        link.drive(0.25, 0, 500)
        time.sleep(0.4)
        state = emulator.state()
        assert state.sensors.moisture_permille[2] > 400
        assert state.sensors.left_ticks > 0.25 * 0.3 * TICKS_PER_M
        assert state.sensors.current_left_ma == 150 + 2 * 250


def test_a_stalled_wheel_stops_counting_and_draws_stall_current(emulator):
    with Link.open(emulator.port, config=FAST) as link:
        link.release()
        emulator.feed(stall_right=True)
        link.drive(0.2, 0, 300)
        time.sleep(0.2)
        s = emulator.state().sensors
        assert s.right_ticks == 0 < s.left_ticks
        assert s.current_right_ma >= 2500


def drivable_path() -> list[tuple[float, float, float]]:
    """An arc (radius 0.5 m, 2 rad) then 0.5 m straight on: what a differential drive can do."""
    radius, path = 0.5, []
    for k in range(101):
        theta = 0.02 * k
        path.append((radius * math.sin(theta), radius * (1 - math.cos(theta)), theta))
    x, y, theta = path[-1]
    path += [(x + 0.01 * k * math.cos(theta), y + 0.01 * k * math.sin(theta), theta)
             for k in range(1, 51)]
    return path


def test_fed_poses_come_back_as_odometry():
    world, tracker = World(), OdometryTracker()
    for x, y, theta in drivable_path():
        world.apply({"pose": (x, y, theta)})
        r = world.reading()
        pose = tracker.update(r.left_ticks, r.right_ticks)
    x, y, theta = drivable_path()[-1]
    # only the encoders' resolution (1/TICKS_PER_M) separates them
    assert math.hypot(pose.x_m - x, pose.y_m - y) < 0.005
    assert abs(pose.theta_rad - theta) < 0.01


def test_slip_makes_the_wheels_turn_more_than_the_robot_moves():
    world = World()
    world.apply({"pose": (0.0, 0.0, 0.0), "slip_left": 0.5, "slip_right": 0.5})
    world.apply({"pose": (1.0, 0.0, 0.0)})
    r = world.reading()
    assert r.left_ticks == r.right_ticks == 2 * TICKS_PER_M


def test_state_and_received_show_what_the_mcu_got(emulator):
    with Link.open(emulator.port, config=FAST) as link:
        link.release()
        link.water(1, 30)
        received = emulator.received()
        assert [r.type for r in received if r.type != "Heartbeat"] == ["Hello", "Water"]
        water = next(r for r in received if r.type == "Water")
        assert water.fields == {"zone": 1, "duration_ms": 30}
        state = emulator.state()
        assert state.commands["Water"] == 1 and state.waters[0].seq == water.seq
        assert emulator.received(clear=True) and emulator.received() == []


def test_process_mode_prints_its_pty_and_obeys_its_control_channel():
    with emulator_process() as emu:
        assert emu.port.startswith("/dev/")
        assert emu.request(cmd="feed", bumper_right=True) == {"ok": True}
        reply = emu.request(cmd="feed", bumper_right="very")
        assert reply["ok"] is False and "bumper_right" in reply["error"]
        assert emu.request(cmd="nope")["ok"] is False
        assert emu.request(cmd="pose", x_m=0.0, y_m=0.0, theta_rad=0.0) == {"ok": True}
        with Link.open(emu.port, config=FAST) as link:
            link.release()
            link.water(3, 40)
            assert fresh_telemetry(link, 50).bumper_right
        state = emu.request(cmd="state")["state"]
        assert state["commands"]["Water"] == 1 and state["sensors"]["bumper_right"]
        received = emu.request(cmd="received")["received"]
        assert any(r["type"] == "Water" for r in received)


def test_asked_for_telemetry_now_the_emulator_sends_one_that_reflects_the_last_feed(emulator):
    with Link.open(emulator.port, config=FAST) as link:
        emulator.feed(bumper_left=True)
        fed_at = emulator.send_telemetry_now()
        t = link.read_telemetry()
        while t.uptime_ms < fed_at:  # one sent before the feed may still be on its way
            t = link.read_telemetry()
        assert t.bumper_left
        sent = emulator.state().frames_tx
        emulator.send_telemetry_now()
        assert wait_until(lambda: emulator.state().frames_tx > sent, 1.0)
    with emulator_process() as emu:
        reply = emu.request(cmd="telemetry")
        assert reply["ok"] is True and reply["uptime_ms"] >= 0


def test_process_mode_survives_garbage_on_its_control_channel():
    with emulator_process() as emu:
        for garbage in ["this is not json", "[1, 2]", '{"cmd": "feed", "pose": "here"}',
                        '{"cmd": "pose"}', '{"cmd": "feed", "moisture_permille": {"a": 1}}',
                        "[" * 100_000,  # nested too deep for the JSON parser
                        '{"cmd": "pose", "x_m": 1' + "0" * 400 + ', "y_m": 0, "theta_rad": 0}']:
            reply = emu.send_line(garbage)
            assert reply["ok"] is False and reply["error"]
        assert emu.request(cmd="state")["ok"] is True
        assert emu.alive()


@pytest.mark.slow
def test_killing_the_host_process_lets_the_failsafe_stop_the_robot():
    with emulator_process() as emu:
        host = start_driving_host(emu.port, 0.3)
        try:
            assert emu.request(cmd="state")["state"]["motor_left_mmps"] == 300
            os.kill(host.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            assert wait_until(lambda: emu.request(cmd="state")["state"]["failsafe_count"] == 1,
                              3)
            stopped_after_s = time.monotonic() - killed_at
        finally:
            host.kill()
            host.wait()
        state = emu.request(cmd="state")["state"]
        assert state["motor_left_mmps"] == 0 and state["pump_zone"] == PUMP_CLOSED
        assert state["estop_latched"]
        # the MCU measured it: it fired at 300 ms of silence (the Drive's TTL was 1000 ms)
        assert HEARTBEAT_TIMEOUT_MS <= state["failsafe_age_ms"] <= HEARTBEAT_TIMEOUT_MS + 100
        assert stopped_after_s < 1.0


def test_an_emulator_whose_host_died_exits_after_a_while():
    # the "host" starts the emulator and dies without cleaning up, as a killed host does
    host = subprocess.run(
        [sys.executable, "-c",
         "import subprocess, sys\n"
         "p = subprocess.Popen([sys.executable, '-m', 'firmware_bridge.emulator',"
         " '--orphan-exit-s', '2'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)\n"
         "print(p.stdout.readline().strip(), p.pid)\n"],
        capture_output=True, text=True, timeout=30, check=True)
    port, pid_text = host.stdout.split()
    pid = int(pid_text)
    assert port.startswith("/dev/"), "the emulator was running when its host died"

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    assert not gone(), "it outlives its host for a while (its failsafe can be watched)"
    assert wait_until(gone, 10), "the orphaned emulator is still running"
