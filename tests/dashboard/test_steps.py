"""Owner commands reach the robot through its own paths: the MCU emulator shows what the motors
and the pump actually do."""

from __future__ import annotations

import time

import pytest

from robot.dashboard.commands import CommandRefused, OwnerCommand
from robot.dashboard.service import DashboardService
from tests.dashboard.robot_loop import start_robot, stop_robot


def _service(cfg):
    return DashboardService(cfg.web, cfg.mqtt, "t" * 32, host="127.0.0.1", port=0)


@pytest.fixture
def robot():
    r = start_robot(_service)
    yield r
    stop_robot(r)


def _wait_for(check, timeout_s=3.0):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _send(robot, kind, **args):
    return robot.service.commands.put(OwnerCommand(kind, args)).result(timeout=5)


def test_stop_really_stops_the_motors_and_the_pump_until_resumed(robot):
    emu = robot.emulator
    _wait_for(lambda: emu.state().motors_on)
    assert _send(robot, "water", zone=1, duration_ms=8000).startswith("watering zone 1")
    _wait_for(lambda: emu.state().pump_on)

    assert _send(robot, "stop") == "stopped"
    _wait_for(lambda: not emu.state().motors_on and not emu.state().pump_on, 1.0)
    stops = emu.state().commands.get("Stop", 0)
    assert stops >= 1  # a Stop message (motors off, pump closed), not only a slower drive
    robot.wait_ticks(20)  # the policy still wants to drive every tick ...
    state = emu.state()
    assert not state.motors_on and not state.pump_on  # ... and nothing moves
    assert robot.service.holder.latest.owner_stopped
    assert robot.service.holder.latest.drive_reason == "stop_owner"
    with pytest.raises(CommandRefused, match="stopped"):
        _send(robot, "water", zone=1)

    assert _send(robot, "resume") == "resumed"
    _wait_for(lambda: emu.state().motors_on)


def test_water_now_obeys_quiet_hours_known_zones_and_the_pump_cap(robot):
    robot.policy.watering = robot.policy.watering.__class__(
        quiet_hours="22:00-07:00", max_duration_ms=8000)
    robot.local_time[0] = robot.local_time[0].replace(hour=23)
    with pytest.raises(CommandRefused, match="quiet hours"):
        _send(robot, "water", zone=1)
    robot.local_time[0] = robot.local_time[0].replace(hour=12)
    with pytest.raises(CommandRefused, match="zone 9 is not a watering zone"):
        _send(robot, "water", zone=9)
    assert _send(robot, "water", zone=2, duration_ms=60_000) == \
        "watering zone 2 for 8000 ms"  # clamped to [watering] max_duration_ms
    _wait_for(lambda: any(w.zone == 2 for w in robot.emulator.state().waters))
    waters = [w for w in robot.emulator.state().waters if w.zone == 2]
    assert waters[0].duration_ms == 8000


def test_retrain_goes_through_the_learner_trigger_and_is_refused_while_one_runs(robot):
    assert _send(robot, "retrain") == "retrain started"
    assert robot.learner.requests == ["owner"]
    robot.learner.running = True
    with pytest.raises(CommandRefused, match="already running"):
        _send(robot, "retrain")
    assert robot.learner.requests == ["owner"]


def test_rollback_moves_the_store_pointer_off_the_loop_thread(robot):
    assert _send(robot, "rollback", version=1) == "current adapter is now v1"
    assert robot.store.rolled_back == [1]
    from robot.common.errors import StoreError

    with pytest.raises(StoreError, match="no adapter version 7"):
        _send(robot, "rollback", version=7)


def test_answers_to_the_robots_questions_reach_the_replay_buffer(robot):
    robot.policy.reason = "stop_low_confidence"
    board = robot.service.board
    _wait_for(lambda: len(board) > 0)
    q = board.open_questions()[0]
    assert q.why == "unsure" and q.cells == 12  # the 3 x 4 patch the robot is unsure of
    before = robot.memory.accepted["owner"]
    board.answer(q.id, "lawn")
    _wait_for(lambda: robot.memory.accepted["owner"] > before)
    assert robot.memory.offered["owner"] == 12
