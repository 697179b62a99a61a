"""The oracle comparison: the same policy on the true cells decides what a false stop is."""

from __future__ import annotations

import numpy as np

from robot.acting.config import PolicyConfig
from robot.acting.policy import DriveCommand, GroundGrid, drive_command, stop
from robot.common.body import RobotConfig
from robot.common.classes import DEFAULT_CLASSES, UNLABELLED
from robot.common.geometry import CameraModel
from robot.seeing.perception import CellMap
from robot.sim.outcomes import DriveTally, judge, oracle_cells, truth_cells

LAWN, PATH, SOIL, PLANT, OBSTACLE = range(5)
GRID = (15, 20)
GROUND = GroundGrid.from_camera(CameraModel(), GRID)


def seen(classes: np.ndarray, confidence: float = 0.9) -> CellMap:
    return CellMap(classes.astype(np.uint8), np.full(GRID, confidence, np.float32),
                   np.zeros(GRID, np.float32), DEFAULT_CLASSES, 0.0, "v1")


def decide(cells: CellMap) -> DriveCommand:
    return drive_command(cells, GROUND, PolicyConfig(), RobotConfig())


def test_a_cell_a_fifth_obstacle_is_an_obstacle_even_when_lawn_is_the_majority():
    labels = np.full((240, 320), LAWN, np.uint8)
    labels[:4, :16] = OBSTACLE  # cell (0, 0): 64 of 256 pixels = 25 %
    labels[16:18, :16] = OBSTACLE  # cell (1, 0): 32 of 256 = 12.5 %
    cells = truth_cells(labels, GRID, DEFAULT_CLASSES)
    assert cells[0, 0] == OBSTACLE
    assert cells[1, 0] == LAWN
    assert (cells[2:] == LAWN).all()


def test_a_cell_with_no_labelled_pixel_has_no_truth_and_the_oracle_is_unsure_there():
    labels = np.full((240, 320), LAWN, np.uint8)
    labels[:16, :16] = UNLABELLED
    truth = truth_cells(labels, GRID, DEFAULT_CLASSES)
    assert truth[0, 0] == UNLABELLED
    oracle = oracle_cells(truth, seen(truth))
    assert oracle.confidence[0, 0] == 0.0 and oracle.confidence[1, 1] == 1.0
    assert oracle.adapter_version == "oracle"


def test_leaves_seen_as_plant_on_open_lawn_is_a_false_stop():
    truth = np.full(GRID, LAWN, np.uint8)
    robot = decide(seen(np.full(GRID, PLANT)))
    oracle = decide(oracle_cells(truth, seen(truth)))
    verdict = judge(robot, oracle)
    assert oracle.v_mps > 0 and robot.v_mps == 0
    assert verdict.false_stop and not verdict.missed_obstacle


def test_driving_at_a_wall_the_truth_shows_is_a_missed_obstacle():
    truth = np.full(GRID, OBSTACLE, np.uint8)
    robot = decide(seen(np.full(GRID, LAWN)))
    oracle = decide(oracle_cells(truth, seen(truth)))
    verdict = judge(robot, oracle)
    assert verdict.missed_obstacle and not verdict.false_stop


def test_a_turn_on_the_spot_counts_as_not_driving():
    turn = DriveCommand(0.0, 0.8, 300, "turn")
    assert judge(turn, DriveCommand(0.3, 0.0, 300, "cruise")).false_stop
    assert not judge(turn, stop("stop_blocked")).false_stop


def test_the_tally_gives_rates_against_what_the_oracle_did():
    tally = DriveTally()
    cruise, halt = DriveCommand(0.3, 0.0, 300, "cruise"), stop("stop_blocked")
    for robot, oracle in [(halt, cruise), (cruise, cruise), (cruise, cruise), (cruise, halt)]:
        tally.add_verdict(judge(robot, oracle))
    tally.distance_m, tally.bumps = 50.0, 1
    s = tally.summary()
    assert s["false_stop_rate"] == round(1 / 3, 3)
    assert s["missed_obstacle_rate"] == 1.0
    assert s["bumps_per_100m"] == 2.0
    assert DriveTally().summary()["false_stop_rate"] is None  # no frames: no rate, not 0
