"""Which questions the robot asks: candidate cells of a frame, groups of look-alike cells, the
K most useful diverse groups."""

from __future__ import annotations

import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from robot.learning.choosing import cell_doubt, choose_questions, frame_candidates, unit_rows

LAWN, PLANT = DEFAULT_CLASSES.index("lawn"), DEFAULT_CLASSES.index("plant")


def _looks(n: int, seed: int = 0) -> np.ndarray:
    """``n`` clearly different looks (unit rows, 16 features)."""
    return unit_rows(np.random.default_rng(seed).normal(size=(n, 16)))


def _frame(looks: np.ndarray, kinds: np.ndarray, noise: float = 0.05,
           seed: int = 1) -> np.ndarray:
    """(h, w, C) features: each cell its look's row plus a little noise."""
    rng = np.random.default_rng(seed)
    return (looks[kinds] + noise * rng.normal(size=(*kinds.shape, looks.shape[1]))
            ).astype(np.float32)


def test_candidate_cells_are_unsure_novel_or_blocked_where_the_robot_stopped():
    classes = np.full((4, 5), LAWN, np.uint8)
    classes[0, :] = PLANT  # confident plant: blocked
    confidence = np.full((4, 5), 0.95, np.float32)
    confidence[2, 1] = 0.3  # unsure
    novelty = np.full((4, 5), 0.5, np.float32)
    novelty[3, 4] = 1.6  # novel
    stop = cell_doubt(classes, confidence, novelty, DEFAULT_CLASSES, "stop_blocked", 0.6)
    doubt, kind = stop
    assert (kind[0] == 1).all() and kind[2, 1] == 2 and kind[3, 4] == 3
    assert (kind > 0).sum() == 7, "confident lawn is no question"
    assert doubt[0, 0] >= 0.25 and np.isclose(doubt[2, 1], 0.7)
    assert np.isclose(doubt[3, 4], 0.05 + 0.6)
    _, creeping = cell_doubt(classes, confidence, novelty, DEFAULT_CLASSES, "creep+clamped", 0.6)
    assert (creeping > 0).sum() == 2, "creeping: the unsure and the novel, not the plant"
    _, cruising = cell_doubt(classes, confidence, novelty, DEFAULT_CLASSES, "cruise", 0.6)
    assert (cruising > 0).sum() == 1 and cruising[3, 4] == 3, "driving on: only the novel"


def test_cells_that_look_alike_form_one_group_wherever_they_lie():
    looks = _looks(2)
    kinds = np.zeros((6, 8), np.int64)
    kinds[:, 0] = 1
    kinds[:, 7] = 1  # the second look in two separate strips
    features = _frame(looks, kinds)
    doubt = np.ones((6, 8), np.float32)
    kind = np.full((6, 8), 2, np.uint8)
    groups = frame_candidates(features, doubt, kind, max_groups=4, min_cells=3, keep=1.0)
    regions = sorted((g.region for g in groups), key=lambda r: -r.sum())
    assert len(groups) == 2, "two looks, two groups: not one per strip, not four"
    np.testing.assert_array_equal(regions[0], kinds == 0)
    np.testing.assert_array_equal(regions[1], kinds == 1)
    assert groups[0].usefulness == 36.0 and groups[0].why == "unsure"
    assert np.isclose(np.linalg.norm(groups[0].mean), 1.0)


def test_too_few_candidate_cells_or_a_tiny_group_is_not_asked_about():
    looks = _looks(2)
    kinds = np.zeros((3, 4), np.int64)
    kinds[0, 0] = 1  # one odd cell
    kind = np.zeros((3, 4), np.uint8)
    kind[0, :2] = 2
    assert frame_candidates(_frame(looks, kinds), np.ones((3, 4)), kind) == []
    kind[:] = 2
    groups = frame_candidates(_frame(looks, kinds), np.ones((3, 4)), kind, min_cells=3,
                              keep=1.0)
    assert [g.region.sum() for g in groups] == [11], "the lone odd cell is no question"


def test_a_question_leaves_out_the_cells_least_like_its_group():
    looks = _looks(2)
    features = np.repeat(looks[:1], 10, axis=0).reshape(2, 5, 16).copy()
    features[1, 3:] = unit_rows(looks[0] + 0.6 * looks[1])  # two cells half-way to another look
    kind = np.full((2, 5), 2, np.uint8)
    [whole] = frame_candidates(features, np.ones((2, 5)), kind, max_groups=1, keep=1.0)
    [kept] = frame_candidates(features, np.ones((2, 5)), kind, max_groups=1, keep=0.8)
    assert whole.region.sum() == 10 and kept.region.sum() == 8
    assert not kept.region[1, 3:].any(), "the odd cells are not labelled by the answer"


def test_the_k_chosen_are_the_most_useful_of_different_kinds_of_ground():
    looks = _looks(3)
    near = unit_rows(looks[0] + 0.02 * _looks(1, seed=5)[0])  # the same kind as looks[0]
    means = np.stack([looks[0], near, looks[1], looks[2]])
    usefulness = [10.0, 9.0, 3.0, 1.0]
    assert choose_questions(usefulness, means, 2) == [0, 2], \
        "the second is about other ground, not the near-copy of the first"
    assert choose_questions(usefulness, means, 10) == [0, 2, 3], "never twice one kind"
    assert choose_questions(usefulness, means, 10, known=looks[1:2]) == [0, 3], \
        "a kind the owner answered is not asked again"
    assert choose_questions([], np.zeros((0, 16)), 3) == []
    assert choose_questions(usefulness, means, 0) == []


def test_choosing_is_deterministic():
    looks = _looks(4)
    kinds = np.random.default_rng(3).integers(0, 4, (15, 20))
    features = _frame(looks, kinds, noise=0.2)
    doubt = np.random.default_rng(4).random((15, 20)).astype(np.float32)
    kind = np.full((15, 20), 2, np.uint8)
    a = frame_candidates(features, doubt, kind)
    b = frame_candidates(features, doubt, kind)
    assert [g.usefulness for g in a] == [g.usefulness for g in b]
    assert all(np.array_equal(x.region, y.region) for x, y in zip(a, b, strict=True))
