"""The closed loop: the robot's own commands, through the real link and the MCU emulator,
move it through a live synthetic garden; contacts stop it; a dead host stops it."""

from __future__ import annotations

import math
import os
import signal
import time

import pytest

from firmware_bridge import Link, LinkConfig
from firmware_bridge.board import wait_until
from robot.sim.closed_loop import GardenWorld, Stage, parse_stages
from robot.sim.outcomes import Outcomes
from tests.driving_host import start_driving_host
from tools.garden.live import LiveGarden

FAST = LinkConfig(handshake_timeout_ms=3000)
FPS = 10.0


def world_at(pose, seconds: float = 3.0) -> tuple[GardenWorld, LiveGarden, Outcomes]:
    garden = LiveGarden("g00", "summer")
    outcomes = Outcomes()
    outcomes.key = ("summer", "test")
    world = GardenWorld(garden, [Stage("summer", seconds)], FPS, outcomes)
    world.read_frame()  # the first stage starts at the dock …
    garden.place(pose)  # … and the test carries the robot to where it wants it
    world.mcu.request(cmd="feed", pose=None)
    return world, garden, outcomes


def open_lawn(garden: LiveGarden) -> tuple[float, float, float]:
    """A pose with at least a metre of nothing ahead (one of the garden's evaluation poses)."""
    for x, y, th in garden.eval_poses(50, seed=3):
        ahead = [(x + d * math.cos(th), y + d * math.sin(th)) for d in (0.3, 0.6, 0.9, 1.2)]
        if all(garden._contact_at(px, py) > 0.45 for px, py in ahead):
            return x, y, th
    raise AssertionError("no open pose in g00")


def test_the_robot_moves_as_its_own_drive_commands_say():
    world, garden, outcomes = world_at(open_lawn(LiveGarden("g00", "summer")))
    try:
        start = garden.pose
        with Link.open(world.port, config=FAST) as link:
            link.release()
            for _ in range(10):  # one second at 0.2 m/s
                link.drive(0.2, 0.0, ttl_ms=500)
                frame = world.read_frame()
                assert frame is not None and frame.labels is not None
        moved = math.dist(start[:2], garden.pose[:2])
        assert 0.12 < moved < 0.25, f"moved {moved:.3f} m"
        assert outcomes.current().distance_m == pytest.approx(moved, abs=0.03)
    finally:
        world.shutdown()


def test_driving_into_the_fence_closes_the_bumper_and_the_robot_stays_put():
    garden = LiveGarden("g00", "summer")
    y = next(p[1] for p in garden.eval_poses(50) if garden._contact_at(0.3, p[1]) > 0.09)
    world, garden, outcomes = world_at((0.3, y, math.pi))  # 0.1 m from the fence, facing it
    try:
        with Link.open(world.port, config=FAST) as link:
            link.release()
            for _ in range(15):
                link.drive(0.2, 0.0, ttl_ms=500)
                world.read_frame()
            x_after = garden.pose[0]
            assert x_after == pytest.approx(garden.radius_m, abs=0.01), "stopped at contact"
            telemetry = link.read_telemetry()
            while telemetry.uptime_ms < world._fresh:
                telemetry = link.read_telemetry()
            assert telemetry.bumper_left and telemetry.bumper_right
        tally = outcomes.current()
        assert tally.bumps == 1, "pushing on is one bump, not one per frame"
    finally:
        world.shutdown()


@pytest.mark.slow
def test_killing_the_host_stops_the_robot_through_the_mcu_failsafe():
    world, garden, _ = world_at(open_lawn(LiveGarden("g00", "summer")), seconds=30.0)
    host = start_driving_host(world.port, 0.2)
    try:
        before = garden.pose
        world.read_frame()
        assert math.dist(before[:2], garden.pose[:2]) > 0.01, "the host drives it"
        os.kill(host.pid, signal.SIGKILL)
        host.wait()
        assert wait_until(lambda: world.mcu.state()["failsafe_count"] == 1, 3.0)
        stopped = garden.pose
        for _ in range(5):
            world.read_frame()
        assert garden.pose == stopped, "no wheel turns once the MCU has failed safe"
    finally:
        host.kill()
        host.wait()
        world.shutdown()


def test_a_season_that_is_not_one_is_a_clear_error():
    assert [s.season for s in parse_stages("summer, autumn", 10)] == ["summer", "autumn"]
    with pytest.raises(ValueError, match="unknown season 'fall'.*spring, summer"):
        parse_stages("summer,fall", 10)
    with pytest.raises(ValueError, match="no season"):
        parse_stages(" , ", 10)
    with pytest.raises(ValueError, match="> 0 seconds"):
        parse_stages("summer", 0)


def test_the_run_ends_after_its_stages_unless_asked_to_run_on():
    garden = LiveGarden("g00", "summer")
    extend = iter([True, True, False])
    world = GardenWorld(garden, [Stage("summer", 0.3), Stage("autumn", 0.2)], FPS, Outcomes(),
                        extend=lambda: next(extend))
    try:
        seasons = []
        while (frame := world.read_frame()) is not None:
            seasons.append(world.segment.season)
            assert frame.t == pytest.approx((len(seasons) - 1) / FPS)
        assert seasons == ["summer"] * 3 + ["autumn"] * 4  # 2 frames + 2 run on
        assert world.extra_frames == 2 and world.finished
    finally:
        world.shutdown()


def test_running_on_lasts_its_time_on_the_wall_clock_when_faster_than_real_time():
    garden = LiveGarden("g00", "summer")
    world = GardenWorld(garden, [Stage("summer", 0.1)], FPS, Outcomes(),
                        extend=lambda: True, max_extra_s=0.3)
    try:
        t0 = time.monotonic()
        while world.read_frame() is not None:
            pass
        assert time.monotonic() - t0 >= 0.3, "a retrain on a busy machine gets its wall time"
        assert world.extra_frames * (1 / FPS) >= 0.3, "and at least that much simulated time"
    finally:
        world.shutdown()
