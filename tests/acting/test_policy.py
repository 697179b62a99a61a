from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from robot.acting.config import PolicyConfig, WateringConfig, Zone
from robot.acting.policy import (
    CREEP,
    CRUISE,
    SLOW,
    STOP_BLOCKED,
    STOP_LOW_CONFIDENCE,
    STOP_NO_GROUND,
    TURN,
    DriveCommand,
    GroundGrid,
    WaterCommand,
    clamp_drive,
    clamp_water,
    drive_command,
    in_quiet_hours,
    in_square,
    water_command,
    why_not_water,
    zone_in_view,
    zones_from_meta,
)
from robot.common.body import RobotConfig
from robot.common.classes import DEFAULT_CLASSES, UNLABELLED
from robot.common.geometry import CameraModel
from robot.seeing.perception import CellMap
from robot.sim.outcomes import oracle_cells

LAWN, PATH, SOIL, PLANT, OBSTACLE = range(5)
CAM = CameraModel()  # 320 × 240, 70° wide, 0.35 m high, 32° down
GRID = (15, 20)
GROUND = GroundGrid.from_camera(CAM, GRID)
X, Y = GROUND.xy[..., 0], GROUND.xy[..., 1]  # ground under each cell centre, robot frame
POLICY, ROBOT = PolicyConfig(), RobotConfig()


def scene(classes: np.ndarray, confidence: float | np.ndarray = 0.9) -> CellMap:
    conf = np.broadcast_to(np.float32(confidence), GRID).astype(np.float32)
    return CellMap(classes.astype(np.uint8), conf, np.zeros(GRID, np.float32), DEFAULT_CLASSES,
                   0.0, "test")


def lawn_with(blocked: np.ndarray, cls: int = OBSTACLE) -> CellMap:
    return scene(np.where(blocked, cls, LAWN))


def drive(cells: CellMap, policy: PolicyConfig = POLICY) -> DriveCommand:
    return drive_command(cells, GROUND, policy, ROBOT)


def test_the_camera_sees_ground_from_just_ahead_to_far():
    assert 0.25 < X.min() < 0.45 and X.max() > 3, "sanity of the hand-made geometry"


def test_open_lawn_cruises_straight_at_full_speed():
    cmd = drive(scene(np.full(GRID, LAWN)))
    assert cmd == DriveCommand(POLICY.max_speed_mps, 0.0, POLICY.command_ttl_ms, CRUISE,
                               cmd.detail)


def test_a_path_is_traversable_soil_is_not():
    along_path = np.where(np.abs(Y) < 0.3, PATH, SOIL)
    cmd = drive(scene(along_path))
    assert cmd.reason == CRUISE and cmd.omega_radps == 0.0
    soil_everywhere = drive(scene(np.full(GRID, SOIL)))
    assert soil_everywhere.reason == STOP_BLOCKED and soil_everywhere.is_stop


def nearest_blocked_ahead(blocked: np.ndarray) -> float:
    """Oracle: distance from the bumper to the first blocked cell centre in the straight lane."""
    lane = np.abs(Y) <= ROBOT.width_m / 2 + POLICY.clearance_m
    return float(X[blocked & lane].min()) - ROBOT.front_m


def test_slows_down_near_an_obstacle_ahead():
    wall = X > 0.9
    cmd = drive(lawn_with(wall))
    free = nearest_blocked_ahead(wall)
    assert POLICY.stop_distance_m < free < POLICY.slow_down_distance_m
    expected = POLICY.max_speed_mps * (free - POLICY.stop_distance_m) / (
        POLICY.slow_down_distance_m - POLICY.stop_distance_m)
    assert cmd.reason == SLOW and cmd.omega_radps == 0.0
    assert cmd.v_mps == pytest.approx(expected)
    farther = drive(lawn_with(X > 1.1))
    assert farther.v_mps > cmd.v_mps


def test_stops_when_nothing_ahead_is_traversable():
    everything = X > 0.0
    cmd = drive(lawn_with(everything))
    assert cmd.reason == STOP_BLOCKED and cmd.is_stop
    assert f"free {nearest_blocked_ahead(everything):.2f} m at +0°" in cmd.detail
    close_wall = drive(lawn_with(X > 0.45))
    assert close_wall.reason == STOP_BLOCKED


def test_steers_toward_the_most_open_direction():
    # an opening 20 degrees to the right (negative y), everything else blocked beyond 0.7 m
    h = math.radians(-20)
    lateral = -X * math.sin(h) + Y * math.cos(h)
    blocked = (np.abs(lateral) > 0.3) & (X > 0.7)
    cmd = drive(lawn_with(blocked))
    assert cmd.omega_radps < 0, "turns right, toward the opening"
    heading = cmd.omega_radps / POLICY.steer_gain
    assert math.degrees(heading) == pytest.approx(-20, abs=5.1)
    mirrored = drive(lawn_with(np.where(np.isfinite(Y), blocked[:, ::-1], True)))
    assert mirrored.omega_radps == pytest.approx(-cmd.omega_radps)


def test_turns_on_the_spot_when_straight_ahead_is_blocked_but_a_side_is_open():
    post = (Y > 0.05) & (Y < 0.5) & (X < 0.6)  # just ahead, left of centre
    cmd = drive(lawn_with(post))
    assert cmd.reason == TURN and cmd.v_mps == 0.0 and cmd.omega_radps < 0, "turns right"
    assert "ahead 0.12 m" in cmd.detail


def test_an_obstacle_right_at_the_bumper_stops_rather_than_turns():
    # turning on the spot would sweep the front corner through it
    cmd = drive(lawn_with((np.abs(Y) < 0.1) & (X < 0.6)))
    assert cmd.reason == STOP_BLOCKED


OLD_RULE = PolicyConfig(unsure="stop", min_confidence=0.6)  # before the study, docs/policy.md


def test_with_the_stop_rule_unsure_ground_stops_the_robot_and_says_so():
    # the earlier default, still reachable by config (unsure = "stop")
    cmd = drive(scene(np.full(GRID, LAWN), confidence=0.4), OLD_RULE)
    assert cmd.reason == STOP_LOW_CONFIDENCE and cmd.is_stop
    assert "0.40 < 0.60" in cmd.detail
    nan = drive(scene(np.full(GRID, LAWN), confidence=np.float32("nan")), OLD_RULE)
    assert nan.reason == STOP_LOW_CONFIDENCE, "NaN confidence counts as none"


def test_with_the_stop_rule_unsure_cells_are_avoided_like_obstacles():
    unsure = (Y > 0.05) & (Y < 0.5) & (X < 0.6)
    conf = np.where(unsure, 0.3, 0.95)
    cmd = drive(scene(np.full(GRID, LAWN), confidence=conf), OLD_RULE)
    assert cmd == drive(lawn_with(unsure), OLD_RULE)


def test_the_stop_rule_is_the_earlier_policy_on_random_scenes():
    # the earlier rule, stated: a low mean confidence stops; otherwise every unsure cell is an
    # obstacle and the rest drives as before
    rng = np.random.default_rng(0)
    for _ in range(40):
        classes = rng.choice([LAWN, LAWN, LAWN, PATH, SOIL, PLANT, OBSTACLE], size=GRID)
        conf = rng.choice([0.3, 0.55, 0.7, 0.95, 1.0], size=GRID).astype(np.float32)
        cmd = drive(scene(classes, conf), OLD_RULE)
        ground = np.isfinite(X) & (X > 0) & (np.hypot(X, Y) <= POLICY.lookahead_m)
        if conf[ground].mean() < 0.6:
            assert cmd.reason == STOP_LOW_CONFIDENCE
        else:
            assert cmd == drive(scene(np.where(conf < 0.6, OBSTACLE, classes), 1.0), OLD_RULE)


def test_unsure_leafy_lawn_with_no_confident_obstacle_creeps():
    # autumn: the adapter hesitates between lawn and plant everywhere ahead
    leafy = scene(np.where(X > 1.0, PLANT, LAWN), confidence=0.4)
    cmd = drive(leafy)
    assert cmd.reason == CREEP and cmd.omega_radps == 0.0
    assert cmd.v_mps == POLICY.creep_speed_mps
    assert 0 < cmd.v_mps < POLICY.max_speed_mps / 2
    assert "mean confidence 0.40 < 0.80" in cmd.detail
    nan = drive(scene(np.full(GRID, LAWN), confidence=np.float32("nan")))
    assert nan.reason == CREEP, "NaN confidence counts as none, and creeps too"


def test_a_few_unsure_cells_in_the_corridor_creep_and_say_how_many():
    patch = (np.abs(Y) < 0.2) & (X > 0.6) & (X < 0.9)
    cmd = drive(scene(np.where(patch, PLANT, LAWN), confidence=np.where(patch, 0.4, 0.95)))
    assert cmd.reason == CREEP and f"{int(patch.sum())} unsure cells" in cmd.detail
    far = (np.abs(Y) < 0.2) & (X > 2.0)
    beyond = drive(scene(np.where(far, PLANT, LAWN), confidence=np.where(far, 0.4, 0.95)))
    assert beyond.reason == CRUISE, "unsure ground beyond creep_distance_m does not slow"


def test_a_confident_obstacle_still_stops_or_turns_on_unsure_lawn():
    wall = X > 0.45
    conf = np.where(wall, 0.95, 0.4)
    cmd = drive(scene(np.where(wall, OBSTACLE, LAWN), confidence=conf))
    assert cmd.reason == STOP_BLOCKED and cmd.is_stop
    post = (Y > 0.05) & (Y < 0.5) & (X < 0.6)
    turn = drive(scene(np.where(post, OBSTACLE, LAWN), confidence=np.where(post, 0.95, 0.4)))
    assert turn.reason == TURN and turn.v_mps == 0.0


def test_the_unsure_rim_of_a_confident_bed_blocks_an_unsure_patch_alone_does_not():
    r, c = np.indices(GRID)
    bed = (r >= 6) & (r <= 9) & (c >= 7) & (c <= 12)  # a bed straight ahead
    rim = (r >= 5) & (r <= 10) & (c >= 6) & (c <= 13) & ~bed
    classes = np.where(bed | rim, SOIL, LAWN)
    sure_rim = drive(scene(classes))
    unsure_rim = drive(scene(classes, confidence=np.where(rim, 0.4, 0.95)))
    assert unsure_rim.detail.split(";")[0] == sure_rim.detail, "the rim blocks as the bed does"
    alone = drive(scene(np.where(rim, SOIL, LAWN), confidence=np.where(rim, 0.4, 0.95)))
    assert alone.reason == CREEP, "a ring of unsure cells with nothing confident inside"


def test_novel_cells_are_unsure_when_max_novelty_is_set():
    novel = scene(np.full(GRID, SOIL), confidence=0.99)
    novel = CellMap(novel.classes, novel.confidence, np.full(GRID, 1.5, np.float32),
                    DEFAULT_CLASSES, 0.0, "test")
    assert drive(novel).reason == STOP_BLOCKED, "novelty is off by default"
    cmd = drive(novel, PolicyConfig(max_novelty=1.0))
    assert cmd.reason == CREEP


def test_oracle_cells_of_an_open_lawn_cruise():
    truth = np.full(GRID, LAWN, np.uint8)
    truth[:2] = UNLABELLED  # sky: no labelled pixel
    cells = oracle_cells(truth, scene(truth))
    cmd = drive(cells)
    assert cmd.reason == CRUISE and cmd.v_mps == POLICY.max_speed_mps


def test_no_ground_in_view_is_a_stop():
    sky = GroundGrid(np.full((*GRID, 2), np.nan))
    cmd = drive_command(scene(np.full(GRID, LAWN)), sky, POLICY, ROBOT)
    assert cmd.reason == STOP_NO_GROUND and cmd.is_stop


def test_mismatched_grids_are_an_error():
    with pytest.raises(ValueError, match="does not match"):
        drive_command(scene(np.full(GRID, LAWN)), GroundGrid.from_camera(CAM, (6, 8)), POLICY,
                      ROBOT)


def test_faster_config_drives_faster_and_respects_its_limits():
    fast = PolicyConfig(max_speed_mps=0.8, max_omega_radps=0.2)
    assert drive(scene(np.full(GRID, LAWN)), fast).v_mps == 0.8
    h = math.radians(-30)
    lateral = -X * math.sin(h) + Y * math.cos(h)
    cmd = drive(lawn_with((np.abs(lateral) > 0.3) & (X > 0.7)), fast)
    assert cmd.omega_radps == -0.2


# --- clamps --------------------------------------------------------------------------------------

def test_clamp_drive_passes_a_good_command_unchanged_and_silently(caplog):
    cmd = DriveCommand(0.3, -0.5, 300, CRUISE)
    assert clamp_drive(cmd, 0.4, 1.0) is cmd
    assert caplog.records == []


def test_clamp_drive_limits_and_logs(caplog):
    sent = clamp_drive(DriveCommand(2.0, -3.0, 99999, CRUISE), 0.4, 1.0, 1000)
    assert (sent.v_mps, sent.omega_radps, sent.ttl_ms) == (0.4, -1.0, 1000)
    assert sent.reason == "cruise+clamped"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "2.000 → 0.400 m/s" in caplog.text


def test_clamp_drive_turns_nan_into_a_stop(caplog):
    sent = clamp_drive(DriveCommand(float("nan"), 0.2, 300, CRUISE), 0.4, 1.0)
    assert sent.is_stop and "non-finite" in caplog.text


def test_clamp_water_caps_the_pump_time(caplog):
    cmd = WaterCommand(2, 5000)
    assert clamp_water(cmd, 30000) is cmd
    sent = clamp_water(WaterCommand(2, 60000), 30000)
    assert sent.duration_ms == 30000 and "60000 → 30000 ms" in caplog.text
    assert clamp_water(WaterCommand(2, -5), 30000).duration_ms == 0


# --- watering ------------------------------------------------------------------------------------

NOON = datetime(2025, 6, 1, 12, 0)
AHEAD = Zone(7, 1.0, 0.0, 0.3)  # 1 m in front of a robot at the origin facing +x
HOME = (0.0, 0.0, 0.0)
WCFG = WateringConfig()


def decide(zones=(AHEAD,), pose=HOME, moisture=None, last=None, now=NOON, cfg=WCFG):
    moisture = {7: 0.1} if moisture is None else moisture
    return water_command(zones, pose, CAM, moisture, last or {}, now, cfg)


def test_waters_a_dry_zone_in_view():
    assert decide() == WaterCommand(7, WCFG.duration_ms, "moisture 0.10 < 0.30")


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"now": NOON.replace(hour=23)}, "quiet hours (22:00-07:00)"),
    ({"pose": (2.0, 0.0, 0.0)}, "not in view"),  # the zone is behind the robot
    ({"zones": (Zone(7, 5.0, 0.0, 0.3),)}, "not in view"),  # in the picture, out of reach
    ({"moisture": {7: 0.45}}, "moist enough (0.45 >= 0.30)"),
    ({"moisture": {}}, "moisture unknown"),
    ({"last": {7: NOON - timedelta(hours=2)}}, "watered 2.0 h ago (< 24.0 h)"),
])
def test_each_rule_can_say_no(kwargs, why):
    assert decide(**kwargs) is None
    args = {"zones": (AHEAD,), "pose": HOME, "moisture": {7: 0.1}, "last": {}, "now": NOON,
            **kwargs}
    z = args["zones"][0]
    assert why_not_water(z, args["pose"], CAM, args["moisture"].get(7), args["last"].get(7),
                         args["now"], WCFG) == why


def test_interval_passed_waters_again():
    assert decide(last={7: NOON - timedelta(hours=25)}) is not None


def test_a_zone_behind_is_seen_after_turning_around():
    assert decide(pose=(2.0, 0.0, math.pi)) is not None
    assert zone_in_view(AHEAD, (2.0, 0.0, math.pi), CAM, 1.5)


def test_the_driest_eligible_zone_goes_first():
    zones = (AHEAD, Zone(8, 1.2, 0.2, 0.3), Zone(9, 1.1, -0.2, 0.3))
    cmd = decide(zones=zones, moisture={7: 0.2, 8: 0.05, 9: 0.5})
    assert cmd is not None and cmd.zone == 8


def test_quiet_hours_wrap_midnight_and_can_be_off():
    assert in_quiet_hours(datetime(2025, 1, 1, 6, 59).time(), "22:00-07:00")
    assert not in_quiet_hours(datetime(2025, 1, 1, 7, 0).time(), "22:00-07:00")
    assert in_quiet_hours(datetime(2025, 1, 1, 22, 0).time(), "22:00-07:00")
    assert in_quiet_hours(datetime(2025, 1, 1, 13, 30).time(), "13:00-14:00")
    assert not in_quiet_hours(datetime(2025, 1, 1, 23, 0).time(), "")
    assert decide(now=NOON.replace(hour=23), cfg=WateringConfig(quiet_hours="")) is not None


def test_zones_from_a_recordings_meta():
    extra = {"zones": [{"id": 1, "x_m": 2.0, "y_m": 0.5, "radius_m": 0.4},
                       {"id": 2, "x_m": 3, "y_m": -1}]}
    assert zones_from_meta(extra) == (Zone(1, 2.0, 0.5, 0.4), Zone(2, 3.0, -1.0, 0.3))
    assert zones_from_meta({}) == ()
    with pytest.raises(ValueError, match=r"extra.zones\[0\] is not a zone"):
        zones_from_meta({"zones": [{"x_m": 1}]})


def test_one_misclassified_cell_right_ahead_does_not_stop_the_robot():
    classes = np.full(GRID, LAWN)
    near_row, mid_col = GRID[0] - 1, GRID[1] // 2
    classes[near_row, mid_col] = OBSTACLE  # alone: a leaf, a glint
    assert drive(scene(classes)).reason == CRUISE
    classes[near_row, mid_col - 1] = OBSTACLE  # a pair along the row: still no thickness
    assert drive(scene(classes)).reason == CRUISE
    classes[near_row - 1, mid_col - 1: mid_col + 1] = OBSTACLE  # a 2×2 square: something is there
    assert drive(scene(classes)).v_mps == 0.0
    strict = PolicyConfig(ignore_lone_cells=False, block_square=1)
    classes[:] = LAWN
    classes[near_row, mid_col] = OBSTACLE
    assert drive(scene(classes), strict).v_mps == 0.0, "the old rule stops for one cell"


def torn(classes: np.ndarray, confidence: np.ndarray, traversable_p: np.ndarray) -> CellMap:
    """A cell map from a classifier that also gives the traversable mass."""
    return CellMap(classes.astype(np.uint8), confidence.astype(np.float32),
                   np.zeros(GRID, np.float32), DEFAULT_CLASSES, 0.0, "test",
                   traversable_p=traversable_p.astype(np.float32))


def test_a_cell_torn_between_lawn_and_path_is_sure_ground():
    edge = (np.abs(Y - 0.1) < 0.1) & (X < 1.5)  # the edge of a path, straight ahead
    cells = torn(np.where(edge, PATH, LAWN), np.where(edge, 0.5, 0.95),
                 np.where(edge, 0.97, 0.97))
    assert drive(cells).reason == CRUISE, "lawn or path, it can be driven on"
    by_class = drive(cells, PolicyConfig(sure_of="class"))
    assert by_class.reason == CREEP, "judged by the top class it is unsure"


def test_a_cell_torn_between_plant_and_soil_is_a_sure_stop():
    bed = X > 0.45
    cells = torn(np.where(bed, PLANT, LAWN), np.where(bed, 0.5, 0.95),
                 np.where(bed, 0.03, 0.97))
    assert drive(cells).reason == STOP_BLOCKED, "plant or soil, it cannot be driven on"
    assert drive(cells, PolicyConfig(sure_of="class")).reason == CREEP


def test_a_square_of_blocked_cells_stays_whole_a_thin_line_goes():
    r, c = np.indices((6, 6))
    square = (r >= 1) & (r <= 3) & (c >= 2) & (c <= 4)
    line = (r == 5)
    assert (in_square(square | line, 2) == square).all()
    assert (in_square(square, 1) == square).all()
    assert not in_square(line, 2).any()
    assert not in_square(np.ones((1, 6), bool), 2).any(), "a grid thinner than the square"


def test_with_block_square_a_thin_line_of_errors_along_an_edge_does_not_stop_the_robot():
    line = np.zeros(GRID, bool)
    line[:, GRID[1] // 2] = True  # one cell wide, straight ahead
    assert drive(lawn_with(line, SOIL)).reason == CRUISE
    one = PolicyConfig(block_square=1)
    assert drive(lawn_with(line, SOIL), one).v_mps == 0.0, "every blocked cell blocks with 1"
    post = (np.abs(Y) < 0.15) & (X > 0.45) & (X < 0.8)
    assert drive(lawn_with(post)).v_mps == 0.0, "a real obstacle is thicker than a line"


def test_a_lone_unsure_cell_ahead_does_not_creep_a_group_does():
    classes = np.full(GRID, LAWN)
    conf = np.full(GRID, 0.95)
    row, col = GRID[0] - 3, GRID[1] // 2
    conf[row, col] = 0.4
    assert drive(scene(classes, conf), PolicyConfig(creep_min_cells=1)).reason == CRUISE
    conf[row, col + 1] = 0.4
    assert drive(scene(classes, conf), PolicyConfig(creep_min_cells=1)).reason == CREEP
    assert drive(scene(classes, conf)).reason == CRUISE, "two of the default four"
    conf[row - 1, col: col + 2] = 0.4
    assert drive(scene(classes, conf)).reason == CREEP
