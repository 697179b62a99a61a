"""Probing: the robot creeps onto ground it cannot vouch for only when nothing it knows blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot.acting.config import PolicyConfig, ProbeConfig, Zone
from robot.acting.policy import STOP_BLOCKED, GroundGrid, drive_command
from robot.acting.probe import BUMP, PROBE, SMOOTH, STALL, STUCK, Prober
from robot.common.body import RobotConfig
from robot.common.classes import DEFAULT_CLASSES
from robot.common.geometry import CameraModel
from robot.seeing.perception import CellMap

LAWN, PATH, SOIL, PLANT, OBSTACLE = range(5)
CAM = CameraModel()
GRID = (15, 20)
GROUND = GroundGrid.from_camera(CAM, GRID)
POLICY, ROBOT = PolicyConfig(), RobotConfig()
CFG = ProbeConfig()
HOME = (0.0, 0.0, 0.0)


def scene(cls: int, confidence: float = 0.99, novelty: float = 0.5) -> CellMap:
    """Every cell the same: ``cls`` at this confidence and novelty."""
    return CellMap(np.full(GRID, cls, np.uint8), np.full(GRID, confidence, np.float32),
                   np.full(GRID, novelty, np.float32), DEFAULT_CLASSES, 0.0, "test")


def step(prober: Prober, t: float, cells: CellMap, pose=HOME, zones=(), bumper=False,
         stall=False):
    decision = drive_command(cells, GROUND, POLICY, ROBOT)
    return prober.command(t, cells, GROUND, CAM, decision, POLICY, ROBOT, pose, zones, bumper,
                          stall)


def test_confidently_seen_soil_in_a_novel_scene_is_probed_slowly_straight_ahead():
    # autumn: leaf-covered lawn that the adapter calls soil with confidence 1, unlike its data
    leafy = scene(SOIL, 1.0, novelty=0.95)
    assert drive_command(leafy, GROUND, POLICY, ROBOT).reason == STOP_BLOCKED
    prober = Prober(CFG)
    cmd = step(prober, 0.0, leafy)
    assert cmd is not None and cmd.reason == PROBE
    assert cmd.v_mps == CFG.speed_mps and cmd.omega_radps == 0.0
    (probe,) = prober.log
    assert probe.cells > 0 and probe.classes == {"soil": probe.cells}
    assert "unsure or novel" in probe.reason


def test_the_same_soil_in_a_familiar_scene_is_not_probed():
    prober = Prober(CFG)
    assert step(prober, 0.0, scene(SOIL, 1.0, novelty=0.5)) is None
    assert prober.log == [] and prober.declined["confident blocking cells"] == 1


def test_unsure_ground_is_probed_even_when_familiar():
    # familiar soil all round, the adapter unsure of the patch right ahead: the patch's rim
    # blocks the way (unsure next to confident soil), and all of it is unsure
    cells = scene(SOIL, 1.0, novelty=0.5)
    x, y = GROUND.xy[..., 0], GROUND.xy[..., 1]
    with np.errstate(invalid="ignore"):
        patch = (np.abs(y) <= 0.2) & (x <= 0.8)
    cells.confidence[patch] = 0.5
    assert drive_command(cells, GROUND, POLICY, ROBOT).reason == STOP_BLOCKED
    assert step(Prober(CFG), 0.0, cells) is not None


def test_a_confident_familiar_obstacle_is_never_probed():
    prober = Prober(CFG)
    assert step(prober, 0.0, scene(OBSTACLE, 1.0, novelty=0.5)) is None
    assert prober.declined["confident obstacle"] == 1


def test_a_novel_looking_obstacle_may_be_probed_with_the_bumper_as_the_safety():
    assert step(Prober(CFG), 0.0, scene(OBSTACLE, 1.0, novelty=1.2)) is not None


def test_never_toward_a_watering_zone():
    leafy = scene(SOIL, 1.0, novelty=0.95)
    bed_ahead = Zone(0, 0.7, 0.0, 0.2)
    bed_behind = Zone(1, -1.5, 0.0, 0.2)
    prober = Prober(CFG)
    assert step(prober, 0.0, leafy, zones=(bed_ahead,)) is None
    assert prober.declined["watering zone"] == 1
    assert step(prober, 0.0, leafy, zones=(bed_behind,)) is not None


def test_the_off_switch_and_no_pose_mean_no_probe():
    leafy = scene(SOIL, 1.0, novelty=0.95)
    assert step(Prober(ProbeConfig(enabled=False)), 0.0, leafy) is None
    assert step(Prober(CFG), 0.0, leafy, pose=None) is None


def test_open_ground_is_driven_by_the_policy_not_probed():
    assert step(Prober(CFG), 0.0, scene(LAWN)) is None


def drive_probe(prober: Prober, leafy: CellMap, until: float, speed: float, **telemetry):
    """Run the prober at 10 Hz, the robot moving straight at ``speed``; the outcome."""
    t, x = 0.0, 0.0
    while t <= until:
        cmd = step(prober, t, leafy, pose=(x, 0.0, 0.0),
                   **{k: v(t) for k, v in telemetry.items()})
        if prober.log and prober.log[0].outcome is not None:
            return prober.log[0]
        assert cmd is not None and cmd.reason == PROBE
        t, x = t + 0.1, x + speed * 0.1
    raise AssertionError("the probe did not end")


def test_a_probe_ends_after_its_distance_then_waits_its_interval():
    leafy = scene(SOIL, 1.0, novelty=0.95)
    prober = Prober(CFG)
    probe = drive_probe(prober, leafy, 10.0, CFG.speed_mps)
    assert probe.outcome == SMOOTH and probe.distance_m >= CFG.distance_m
    end = probe.end_t
    assert step(prober, end + CFG.interval_s / 2, leafy) is None
    assert prober.declined["interval"] == 1
    assert step(prober, end + CFG.interval_s + 0.1, leafy) is not None
    assert len(prober.log) == 2


@pytest.mark.parametrize(("telemetry", "outcome"), [
    ({"bumper": lambda t: t > 1.0}, BUMP),
    ({"stall": lambda t: t > 1.0}, STALL),
])
def test_a_bump_or_a_stall_ends_the_probe(telemetry, outcome):
    probe = drive_probe(Prober(CFG), scene(SOIL, 1.0, novelty=0.95), 10.0, CFG.speed_mps,
                        **telemetry)
    assert probe.outcome == outcome and math.isclose(probe.end_t, 1.1, abs_tol=1e-6)


def test_wheels_that_do_not_get_the_robot_there_end_it_as_stuck():
    probe = drive_probe(Prober(CFG), scene(SOIL, 1.0, novelty=0.95), 60.0, 0.01)
    assert probe.outcome == STUCK and probe.distance_m < CFG.distance_m


def test_a_reset_odometry_interrupts_a_probe_under_way():
    prober = Prober(CFG)
    assert step(prober, 0.0, scene(SOIL, 1.0, novelty=0.95)) is not None
    prober.reset()
    assert prober.active is None and prober.log[0].outcome == "interrupted"
    assert step(prober, 0.1, scene(SOIL, 1.0, novelty=0.95)) is not None, "no interval to wait"


def test_events_during_a_probe_or_just_after_it_are_the_probes_labels():
    prober = Prober(CFG)
    probe = drive_probe(prober, scene(SOIL, 1.0, novelty=0.95), 10.0, CFG.speed_mps)
    assert prober.source_at(probe.start_t - 0.1) == "experience"
    assert prober.source_at((probe.start_t + probe.end_t) / 2) == "probe"
    assert prober.source_at(probe.end_t + 0.1) == "probe"
    assert prober.source_at(probe.end_t + 1.0) == "experience"
    assert prober.summary()["outcomes"] == {SMOOTH: 1}


def test_bad_probe_settings_are_a_clear_error():
    from robot.common.errors import ConfigError
    from robot.runtime.config import parse_config

    with pytest.raises(ConfigError, match="speed_mps"):
        parse_config("[probe]\nspeed_mps = -0.1\n")


def test_no_novelty_computed_is_no_evidence_for_a_probe():
    leafy = scene(SOIL, 1.0)
    leafy.novelty[:] = np.nan
    assert step(Prober(CFG), 0.0, leafy) is None


def test_the_policy_step_probes_where_the_policy_stops_and_only_with_probing_configured():
    from datetime import datetime

    from robot.acting.config import WateringConfig
    from robot.runtime.control import PolicyStep, RobotState
    from robot.runtime.loop import Tick

    def policy_step(probe: ProbeConfig | None) -> PolicyStep:
        return PolicyStep(GROUND, CAM, POLICY, ROBOT, WateringConfig(), [],
                          RobotState(pose=HOME), lambda t: datetime(2026, 10, 1, 12), probe)

    leafy = scene(SOIL, 1.0, novelty=0.95)
    probing, plain = policy_step(CFG), policy_step(None)
    for step_ in (probing, plain):
        tick = Tick(0, 0.0, cells=leafy)
        step_.run(tick)
        assert tick.decision.reason == STOP_BLOCKED, "the policy's own decision is kept"
    assert tick.drive.reason == STOP_BLOCKED and plain.prober.log == []
    tick = Tick(1, 0.1, cells=leafy)
    probing.run(tick)
    assert tick.drive.reason == PROBE and probing.reasons[PROBE] == 2


def test_where_a_probe_bumped_no_probe_heads_again_until_the_odometry_restarts():
    novel_fence = scene(OBSTACLE, 1.0, novelty=1.2)  # the adapter finds the fence novel
    prober = Prober(CFG)
    probe = drive_probe(prober, novel_fence, 10.0, CFG.speed_mps, bumper=lambda t: t > 1.0)
    assert probe.outcome == BUMP
    later = probe.end_t + CFG.interval_s + 0.1
    x = CFG.speed_mps * (probe.end_t + 0.1)
    assert step(prober, later, novel_fence, pose=(x - 0.2, 0.0, 0.0)) is None, "backed off a bit"
    assert prober.declined["a probe bumped there"] == 1
    turned = (x - 0.2, 0.0, math.pi / 2)  # facing elsewhere: that way is not where it bumped
    assert step(prober, later + 0.1, novel_fence, pose=turned) is not None
    prober.reset()
    assert step(prober, later + 0.2, novel_fence) is not None, "a new odometry frame forgets"
