"""The memory of places on hand-made poses and cells: where votes land, what it labels, how it
is kept on disk, and how its labels are scored."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES, UNLABELLED
from robot.common.geometry import CameraModel
from robot.common.samples import set_mask
from robot.learning.places import (
    DriftedOdometry,
    PlaceConfig,
    PlaceMap,
    PlaceMapError,
    label_precision,
)
from robot.seeing.cells import cell_ground_samples

LAWN, PATH, SOIL, PLANT, OBSTACLE = range(5)
SHA = "ab" * 32
CFG = PlaceConfig(resolution_m=0.2, extent_m=5.0, min_votes=2.0, min_share=0.9, cap=20.0)


def one_cell(x: float, y: float) -> np.ndarray:
    """Ground samples (1, 1, 4, 2) of a single grid cell: a 0.1 m square around (x, y) in the
    robot frame — well inside one 0.2 m map cell when (x, y) is a map cell's centre."""
    d = 0.04
    pts = [(x - d, y - d), (x + d, y - d), (x - d, y + d), (x + d, y + d)]
    return np.array(pts, float).reshape(1, 1, 4, 2)


def sure(cls: int, shape: tuple[int, int] = (1, 1)) -> tuple[np.ndarray, np.ndarray]:
    return np.full(shape, cls, np.uint8), np.ones(shape, np.float32)


def new_map(cfg: PlaceConfig = CFG) -> PlaceMap:
    return PlaceMap("g07", SHA, DEFAULT_CLASSES, cfg)


def test_a_vote_lands_where_the_pose_puts_the_ground() -> None:
    m = new_map()
    # facing +y from (1.1, 1.1): ground 1 m ahead is world (1.1, 2.1)
    m.vote((1.1, 1.1, math.pi / 2), one_cell(1.0, 0.0), *sure(LAWN))
    m.commit("summer")
    i, j, inside = m.index(np.array([1.1, 2.1]))
    assert inside
    assert m.votes[i, j, LAWN] == pytest.approx(1.0)
    assert m.votes.sum() == pytest.approx(1.0)


def test_a_new_season_is_labelled_from_the_earlier_one_seen_from_elsewhere() -> None:
    m = new_map()
    for _ in range(3):  # summer: the patch at world (2.1, 0.1) is lawn, seen from the dock
        m.vote((0.1, 0.1, 0.0), one_cell(2.0, 0.0), *sure(LAWN))
    # before the season is committed the memory says nothing: it never teaches what it saw today
    labels, allowed = m.labels((1.1, 0.1, 0.0), one_cell(1.0, 0.0))
    assert labels[0, 0] == UNLABELLED and allowed[0, 0] == 0
    m.commit("summer")
    # autumn: the same patch seen from 1 m closer, by another cell
    labels, allowed = m.labels((1.1, 0.1, 0.0), one_cell(1.0, 0.0))
    assert labels[0, 0] == LAWN and allowed[0, 0] == 0
    # ground the memory never saw: no label
    labels, _ = m.labels((1.1, 0.1, 0.0), one_cell(1.0, 1.0))
    assert labels[0, 0] == UNLABELLED


def test_lawn_or_path_becomes_a_traversable_set_and_lawn_or_plant_nothing() -> None:
    m = new_map()
    for cls in (LAWN, PATH, LAWN, PATH):
        m.vote((0.1, 0.1, 0.0), one_cell(1.0, 0.0), *sure(cls))
    for cls in (LAWN, PLANT, LAWN, PLANT):
        m.vote((0.1, 0.1, 0.0), one_cell(2.0, 0.0), *sure(cls))
    m.commit("summer")
    labels, allowed = m.labels((0.1, 0.1, 0.0), one_cell(1.0, 0.0))
    assert labels[0, 0] == UNLABELLED and allowed[0, 0] == set_mask([LAWN, PATH])
    labels, allowed = m.labels((0.1, 0.1, 0.0), one_cell(2.0, 0.0))
    assert labels[0, 0] == UNLABELLED and allowed[0, 0] == 0


def test_unsure_far_and_off_map_predictions_do_not_vote() -> None:
    m = new_map()
    cls, _ = sure(LAWN)
    assert m.vote((0.1, 0.1, 0.0), one_cell(1.0, 0.0), cls, np.full((1, 1), 0.5)) == 0
    assert m.vote((0.1, 0.1, 0.0), one_cell(CFG.max_range_m + 0.5, 0.0), *sure(LAWN)) == 0
    assert m.vote((4.9, 0.1, 0.0), one_cell(1.0, 0.0), *sure(LAWN)) == 0  # beyond the extent
    assert m.vote((np.nan, 0.0, 0.0), one_cell(1.0, 0.0), *sure(LAWN)) == 0
    # sure, but of ground unlike the adapter's training data: a new season's look
    assert m.vote((0.1, 0.1, 0.0), one_cell(1.0, 0.0), *sure(LAWN), np.full((1, 1), 1.5)) == 0
    assert m.pending.sum() == 0


def test_a_cell_too_thinly_known_gets_no_label() -> None:
    m = new_map()
    m.vote((0.1, 0.1, 0.0), one_cell(1.0, 0.0), *sure(LAWN))  # one vote < min_votes 2
    m.commit("summer")
    labels, allowed = m.labels((0.1, 0.1, 0.0), one_cell(1.0, 0.0))
    assert labels[0, 0] == UNLABELLED and allowed[0, 0] == 0


def test_votes_are_capped_and_the_cap_keeps_their_proportions() -> None:
    m = new_map()
    for k in range(100):
        m.vote((0.1, 0.1, 0.0), one_cell(1.0, 0.0), *sure(LAWN if k % 4 else PATH))
    m.commit("summer")
    i, j, _ = m.index(np.array([1.1, 0.1]))
    cell = m.votes[i, j]
    assert cell.sum() == pytest.approx(CFG.cap, rel=1e-4)
    assert cell[LAWN] / cell.sum() == pytest.approx(0.75, abs=0.03)


def test_the_real_camera_labels_ground_seen_again_from_further_along() -> None:
    cam = CameraModel()
    grid = (15, 20)
    ground = cell_ground_samples(cam, grid, 4)
    m = PlaceMap("g07", SHA, DEFAULT_CLASSES, PlaceConfig(extent_m=10.0))
    # summer: driving along +x over all-lawn ground, sure of it everywhere
    for x in np.arange(0.0, 1.0, 0.1):
        m.vote((x, 0.0, 0.0), ground, *sure(LAWN, grid))
    m.commit("summer")
    labels, allowed = m.labels((0.5, 0.0, 0.0), ground)
    assert (labels == LAWN).sum() > 20  # the near ground, seen before
    assert set(np.unique(labels)) <= {LAWN, UNLABELLED} and not allowed.any()


def test_a_map_round_trips_and_refuses_another_garden_or_backbone(tmp_path: Path) -> None:
    m = new_map()
    for _ in range(3):
        m.vote((0.1, 0.1, 0.0), one_cell(1.0, 0.0), *sure(LAWN))
    m.commit("summer")
    path = tmp_path / "places" / "g07.npz"
    m.save(path)
    back = PlaceMap.load(path, "g07", SHA, DEFAULT_CLASSES)
    assert np.array_equal(back.votes, m.votes) and back.seasons == ["summer"]
    assert back.cfg.resolution_m == CFG.resolution_m and back.cfg.extent_m == CFG.extent_m
    with pytest.raises(PlaceMapError, match="garden 'g07', not of 'g06'"):
        PlaceMap.load(path, "g06", SHA, DEFAULT_CLASSES)
    with pytest.raises(PlaceMapError, match="backbone"):
        PlaceMap.load(path, "g07", "cd" * 32, DEFAULT_CLASSES)
    with pytest.raises(PlaceMapError, match="classes"):
        PlaceMap.load(path, "g07", SHA, DEFAULT_CLASSES[:4])


def test_a_damaged_map_file_is_a_clear_error_and_stays_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "g07.npz"
    new_map().save(path)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # cut short, as by a full disk
    with pytest.raises(PlaceMapError, match="not a readable place map"):
        PlaceMap.load(path, "g07", SHA, DEFAULT_CLASSES)
    path.write_bytes(b"not a map at all")
    with pytest.raises(PlaceMapError, match="not a readable place map"):
        PlaceMap.load(path, "g07", SHA, DEFAULT_CLASSES)
    assert path.read_bytes() == b"not a map at all"  # nothing is overwritten by a failed load


def test_a_map_with_bad_votes_is_refused(tmp_path: Path) -> None:
    m = new_map()
    m.votes[0, 0, 0] = -1.0
    path = tmp_path / "g07.npz"
    m.save(path)
    with pytest.raises(PlaceMapError, match="damaged map"):
        PlaceMap.load(path, "g07", SHA, DEFAULT_CLASSES)


def test_precision_counts_single_and_set_labels_against_the_truth() -> None:
    trav = set_mask([LAWN, PATH])
    labels = np.array([[LAWN, PLANT, UNLABELLED, UNLABELLED, LAWN]], np.uint8)
    allowed = np.array([[0, 0, trav, trav, 0]], np.uint16)
    truth = np.array([[LAWN, LAWN, PATH, SOIL, UNLABELLED]], np.uint8)
    # lawn right, plant wrong, {lawn, path} on path right, on soil wrong, the last unchecked
    assert label_precision(labels, allowed, truth) == (4, 2)


def test_drifted_odometry_turns_with_distance_and_zero_drift_changes_nothing() -> None:
    plain = DriftedOdometry(0.0)
    assert plain.update((1.0, 2.0, 0.3)) == (1.0, 2.0, 0.3)
    drift = DriftedOdometry(10.0)  # 10° per metre
    for x in np.linspace(0.0, 1.0, 11):
        pose = drift.update((float(x), 0.0, 0.0))
    assert pose[2] == pytest.approx(math.radians(10.0))
    assert pose[0] == pytest.approx(1.0, abs=0.02) and pose[1] > 0.05  # curved off to the left
    drift.reset()
    assert drift.update((5.0, 5.0, 1.0)) == (5.0, 5.0, 1.0)  # a new day starts on the truth


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="min_share"):
        PlaceConfig(min_share=0.5)
    with pytest.raises(ValueError, match="resolution_m"):
        PlaceConfig(resolution_m=0.0)


def test_an_alternating_drift_turns_the_other_way_the_next_day() -> None:
    drift = DriftedOdometry(10.0, alternate=True)
    for x in np.linspace(0.0, 1.0, 11):
        first = drift.update((float(x), 0.0, 0.0))
    drift.reset()
    for x in np.linspace(0.0, 1.0, 11):
        second = drift.update((float(x), 0.0, 0.0))
    assert first[2] == pytest.approx(math.radians(10.0))
    assert second[2] == pytest.approx(-math.radians(10.0))
