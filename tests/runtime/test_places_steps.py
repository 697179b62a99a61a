"""The places and pseudo-label loop steps on hand-made days: summer teaches the memory, autumn's
frames get its labels in the buffer, the map is saved at the day's end; pseudo-labels stay
under their cap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES
from robot.common.geometry import CameraModel
from robot.learning.places import PlaceMap, PlaceMapError
from robot.learning.replay_buffer import ReplayBuffer
from robot.runtime.learning import CellOrigin, Memory
from robot.runtime.loop import Segment, Tick
from robot.runtime.places import PlaceStep, PseudoStep
from robot.seeing.perception import CellMap

LAWN, PATH, SOIL, PLANT, OBSTACLE = range(5)
CAM = CameraModel()
GRID = (15, 20)
DIM = 4
SHA = "ab" * 32


def tick(i: int, segment: int, season: str, x: float, cls: int, truth: int | None,
         novelty: float = 0.2) -> Tick:
    t = i * 0.1
    cells = CellMap(np.full(GRID, cls, np.uint8), np.full(GRID, 0.95, np.float32),
                    np.full(GRID, novelty, np.float32), DEFAULT_CLASSES, t, "v1",
                    np.random.default_rng(i).standard_normal((*GRID, DIM)).astype(np.float32))
    return Tick(i, 0.0, segment=Segment(segment, "g07", season, i, None), cells=cells,
                truth=None if truth is None else np.full(GRID, truth, np.uint8),
                truth_pose=(x, 0.0, 0.0),
                records=[{"t": t, "x_m": x, "y_m": 0.0, "theta_rad": 0.0}])


def describe(t: Tick) -> CellOrigin:
    return CellOrigin(t.segment.season or "", "drive", 0.0)


def memory() -> Memory:
    return Memory(ReplayBuffer(DIM, SHA, DEFAULT_CLASSES), Path("unused.gbrb"))


def test_autumn_frames_get_summer_lawn_as_place_labels_and_the_map_is_saved(
        tmp_path: Path) -> None:
    mem = memory()
    path = tmp_path / "places" / "g07.npz"
    step = PlaceStep(mem, CAM, GRID, DEFAULT_CLASSES, describe, garden="g07",
                     backbone_sha256=SHA, path=path, label_period_s=0.0)
    for i in range(20):  # summer: 2 m of lawn, surely
        step.run(tick(i, 0, "summer", 0.1 * i, LAWN, LAWN))
    assert step.stats.labels == 0  # nothing earlier to learn from yet
    for i in range(20, 30):  # autumn: the adapter calls the same lawn "plant"
        step.run(tick(i, 1, "autumn", 0.1 * (i - 20), PLANT, LAWN, novelty=3.0))
    assert path.is_file() and PlaceMap.load(path, "g07", SHA, DEFAULT_CLASSES).seasons == \
        ["summer"]
    assert step.stats.labels > 100 and step.stats.precision == 1.0
    cells = mem.buffer.cells()
    assert set(cells.source) == {"place"} and set(cells.season) == {"autumn"}
    assert cells.labels[~cells.is_set].tolist() == [LAWN] * int((~cells.is_set).sum())
    step.shutdown()  # the autumn's novel "plant" never voted: the memory still says lawn
    assert PlaceMap.load(path, "g07", SHA, DEFAULT_CLASSES).votes[..., PLANT].sum() == 0
    with pytest.raises(PlaceMapError):  # another garden's memory is refused at start
        PlaceStep(mem, CAM, GRID, DEFAULT_CLASSES, describe, garden="g06",
                  backbone_sha256=SHA, path=path)


def test_pseudo_labels_need_other_sources_and_stay_under_their_share() -> None:
    mem = memory()
    step = PseudoStep(mem, CAM, GRID, DEFAULT_CLASSES, describe)
    for i in range(12):
        step.run(tick(i, 0, "summer", 0.2 * i, LAWN, LAWN))
    assert step.stats.labels > 0 and step.stats.added == 0  # alone, nothing gets in
    assert step.capped == step.stats.labels
    mem.offered["experience"] += 1000  # the robot's own experience arrived
    for i in range(12, 30):
        step.run(tick(i, 0, "summer", 0.2 * i, LAWN, LAWN))
    step.shutdown()
    assert 0 < mem.offered["pseudo"] <= 0.5 * 1000
    assert step.stats.precision == 1.0
