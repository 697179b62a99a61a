"""The oracle comparison: the same policy on the true cells decides what a false stop is."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from robot.acting.config import PolicyConfig
from robot.acting.policy import DriveCommand, GroundGrid, drive_command, stop, visible_ground
from robot.common.body import RobotConfig
from robot.common.classes import DEFAULT_CLASSES, UNLABELLED
from robot.common.geometry import CameraModel
from robot.seeing.perception import CellMap
from robot.sim.outcomes import (
    DriveTally,
    OracleStep,
    Outcomes,
    culprit_text,
    judge,
    oracle_cells,
    stop_culprits,
    truth_cells,
)

LAWN, PATH, SOIL, PLANT, OBSTACLE = range(5)
GRID = (15, 20)
GROUND = GroundGrid.from_camera(CameraModel(), GRID)


NEAR = visible_ground(GROUND, RobotConfig().front_m + PolicyConfig().slow_down_distance_m)


def seen(classes: np.ndarray, confidence: float | np.ndarray = 0.9) -> CellMap:
    return CellMap(classes.astype(np.uint8),
                   np.broadcast_to(np.float32(confidence), GRID).astype(np.float32),
                   np.zeros(GRID, np.float32), DEFAULT_CLASSES, 0.0, "v1")


def culprits(robot: CellMap, truth: np.ndarray) -> dict[str, int]:
    return stop_culprits(robot, truth, oracle_cells(truth, robot), NEAR, PolicyConfig())


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


def test_what_stopped_the_robot_on_open_lawn_is_the_lawn_it_took_for_plant():
    truth = np.full(GRID, LAWN, np.uint8)
    cells = culprits(seen(np.full(GRID, PLANT)), truth)
    assert set(cells) == {"lawn → plant"}
    assert cells["lawn → plant"] == NEAR.sum(), "the near cells only: far ones cannot stop it"
    assert 0 < NEAR.sum() < NEAR.size


def test_an_obstacle_both_see_is_not_what_stopped_the_robot():
    truth = np.full(GRID, LAWN, np.uint8)
    truth[-4:, 8:12] = OBSTACLE  # in front of the robot, seen by both
    robot = truth.copy()
    robot[-6:-4, :] = PLANT  # leaves the adapter takes for a bed, nearer than the stone's far edge
    cells = culprits(seen(robot), truth)
    assert "obstacle → obstacle" not in cells
    assert cells["lawn → plant"] > 0


def test_ground_the_robot_cannot_vouch_for_beside_a_false_bed_is_counted_as_unsure():
    truth = np.full(GRID, LAWN, np.uint8)
    robot = np.full(GRID, LAWN, np.uint8)
    robot[-5:, 6:10] = PLANT
    confidence = np.full(GRID, 0.9, np.float32)
    confidence[-5:, 10:14] = 0.2  # the rim of the "bed": unsure, and it blocks beside it
    cells = culprits(seen(robot, confidence), truth)
    assert cells.get("lawn → plant", 0) > 0 and cells.get("lawn → unsure", 0) > 0


def test_the_culprits_read_as_the_commonest_with_their_shares():
    assert culprit_text({"lawn → unsure": 1, "lawn → plant": 3}) == "lawn → plant 75 %"
    assert culprit_text({"lawn → unsure": 1, "lawn → plant": 3}, 2) == \
        "lawn → plant 75 %, lawn → unsure 25 %"
    assert culprit_text({}) == "-"


def test_the_oracle_step_counts_what_stopped_the_robot_on_its_false_stops_only():
    outcomes = Outcomes()
    step = OracleStep(GROUND, PolicyConfig(), RobotConfig(), outcomes)
    lawn_map = np.full((240, 320), LAWN, np.uint8)

    def tick(robot_sees: int) -> SimpleNamespace:
        cells = seen(np.full(GRID, robot_sees))
        decision = decide(cells)
        return SimpleNamespace(cells=cells, segment=None, drive=decision, decision=decision,
                               frame=SimpleNamespace(labels=lawn_map))

    step.run(tick(LAWN))  # drives where the oracle drives: nothing to blame
    assert outcomes.current().false_stop_cells == {}
    step.run(tick(PLANT))
    tally = outcomes.current()
    assert tally.false_stops == 1
    assert tally.summary()["false_stop_cells"] == {"lawn → plant": int(NEAR.sum())}


def test_simulates_summary_says_what_stopped_each_adapter():
    from robot.sim.report import _drive_lines

    tally = DriveTally()
    tally.add_verdict(judge(stop("stop_blocked"), DriveCommand(0.3, 0.0, 300, "cruise")))
    tally.false_stop_cells.update({"lawn → plant": 9, "path → unsure": 1})
    text = "\n".join(_drive_lines({"drive": {"autumn|v1": tally.summary()}}))
    assert "autumn v1 stopped by: lawn → plant 90 %, path → unsure 10 %" in text
