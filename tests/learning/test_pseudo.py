"""Pseudo-labels: a prediction becomes a label only when the same ground was called the same
class, surely, from enough distinct viewpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot.common.classes import UNLABELLED
from robot.learning.pseudo import PseudoConfig, ViewTally, consistent, familiar_frame

LAWN, PATH, SOIL, PLANT, OBSTACLE = range(5)
CFG = PseudoConfig(resolution_m=0.1, extent_m=5.0, min_views=3, min_agree=1.0)


def one(v: float, shape: tuple[int, ...] = (1,)) -> np.ndarray:
    return np.full(shape, v)


def test_the_consistency_rule() -> None:
    votes = np.zeros((6, 5))
    votes[:, LAWN] = [3, 2, 3, 3, 3, 3]  # sure "lawn" calls of each cell's ground
    views = np.array([3, 3, 2, 3, 3, 3])
    predicted = np.array([LAWN, LAWN, LAWN, PATH, LAWN, LAWN])
    confidence = np.array([0.95, 0.95, 0.95, 0.95, 0.6, 0.95])
    novelty = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 1.5])
    got = consistent(predicted, confidence, novelty, views, votes, CFG)
    # all agree | one view disagreed | too few views | the frame itself says otherwise |
    # the frame itself is unsure | the frame's ground is novel
    assert got.tolist() == [True, False, False, False, False, False]


def tally_with(views: list[tuple[tuple[float, float, float], int]]) -> ViewTally:
    t = ViewTally(5, CFG)
    for pose, cls in views:
        t.add(pose, centre_at(pose), one(cls, (1, 1)).astype(np.uint8), one(0.95, (1, 1)),
              one(0.2, (1, 1)))
    return t


GROUND = (2.05, 0.05)  # the world patch every view below looks at


def centre_at(pose: tuple[float, float, float]) -> np.ndarray:
    """The robot-frame point of GROUND seen from ``pose`` (one cell looking at it)."""
    x, y, th = pose
    dx, dy = GROUND[0] - x, GROUND[1] - y
    return np.array([[[math.cos(th) * dx + math.sin(th) * dy,
                       -math.sin(th) * dx + math.cos(th) * dy]]])


def test_ground_called_the_same_from_three_viewpoints_is_a_pseudo_label() -> None:
    poses = [(0.0, 0.0, 0.0), (0.3, 0.0, 0.0), (0.6, 0.0, 0.0)]
    t = tally_with([(p, LAWN) for p in poses])
    got = t.labels(poses[-1], centre_at(poses[-1]), one(LAWN, (1, 1)).astype(np.uint8),
                   one(0.95, (1, 1)), one(0.2, (1, 1)))
    assert got[0, 0] == LAWN


def test_one_disagreeing_view_and_standing_still_give_none() -> None:
    poses = [(0.0, 0.0, 0.0), (0.3, 0.0, 0.0), (0.6, 0.0, 0.0)]
    t = tally_with([(poses[0], LAWN), (poses[1], PLANT), (poses[2], LAWN)])
    got = t.labels(poses[2], centre_at(poses[2]), one(LAWN, (1, 1)).astype(np.uint8),
                   one(0.95, (1, 1)), one(0.2, (1, 1)))
    assert got[0, 0] == UNLABELLED
    still = tally_with([((0.0, 0.0, 0.0), LAWN)] * 5)  # five frames, one viewpoint
    assert still.views.sum() == 1
    got = still.labels((0.0, 0.0, 0.0), centre_at((0.0, 0.0, 0.0)),
                       one(LAWN, (1, 1)).astype(np.uint8), one(0.95, (1, 1)), one(0.2, (1, 1)))
    assert got[0, 0] == UNLABELLED


def test_turning_on_the_spot_is_a_new_viewpoint() -> None:
    t = ViewTally(5, CFG)
    assert t.new_viewpoint((0.0, 0.0, 0.0))
    t.add((0.0, 0.0, 0.0), centre_at((0.0, 0.0, 0.0)), one(LAWN, (1, 1)).astype(np.uint8),
          one(0.95, (1, 1)), one(0.2, (1, 1)))
    assert not t.new_viewpoint((0.05, 0.0, math.radians(5)))
    assert t.new_viewpoint((0.0, 0.0, math.radians(12)))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="min_views"):
        PseudoConfig(min_views=1)
    with pytest.raises(ValueError, match="cap_share"):
        PseudoConfig(cap_share=-0.1)


def test_a_frame_that_looks_novel_overall_gives_no_pseudo_labels() -> None:
    novelty = np.full((15, 20), 0.3)
    assert familiar_frame(novelty, CFG)
    novelty[:5] = 2.0  # a third of the frame unlike anything the adapter learnt
    assert not familiar_frame(novelty, CFG)
