"""The robot's questions: the board, the answers as owner labels, the region chooser."""

from __future__ import annotations

import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES
from robot.learning.questions import Question, QuestionBoard, QuestionError, choose_region


def _question(board: QuestionBoard, cells: int = 4, why: str = "unsure") -> Question:
    region = np.zeros((15, 20), bool)
    region[0, :cells] = True
    return Question(board.new_id(), b"\xff\xd8jpeg", region, why,
                    np.arange(cells * 3, dtype=np.float16).reshape(cells, 3), 1.0e9,
                    "autumn", "drive-1")


def test_an_answer_becomes_owner_labels_of_every_cell_of_the_region():
    board = QuestionBoard(DEFAULT_CLASSES)
    q = _question(board, cells=5)
    board.ask(q)
    answer = board.answer(q.id, "lawn")
    cells = answer.cells
    assert len(cells) == 5 and set(cells.labels) == {DEFAULT_CLASSES.index("lawn")}
    assert set(cells.source) == {"owner"} and set(cells.season) == {"autumn"}
    np.testing.assert_array_equal(cells.features, q.features)
    assert board.open_questions() == [] and board.take_answers() == [answer]
    assert board.take_answers() == []


def test_unknown_ids_and_classes_are_clear_errors_that_lose_nothing():
    board = QuestionBoard(DEFAULT_CLASSES)
    q = _question(board)
    board.ask(q)
    with pytest.raises(QuestionError, match="'pond' is not a class of this robot"):
        board.answer(q.id, "pond")
    with pytest.raises(QuestionError, match="no open question 'q99'"):
        board.answer("q99", "lawn")
    assert board.open_questions() == [q]  # still open after both mistakes
    board.answer(q.id, "path")
    with pytest.raises(QuestionError, match="answered already"):
        board.answer(q.id, "path")


def test_the_board_keeps_the_newest_questions():
    board = QuestionBoard(DEFAULT_CLASSES, capacity=3)
    qs = [_question(board) for _ in range(5)]
    for q in qs:
        board.ask(q)
    assert [q.id for q in board.open_questions()] == [q.id for q in qs[2:]]
    assert board.dropped == 2


def test_a_question_needs_a_region_with_its_features_and_a_known_reason():
    region = np.zeros((2, 2), bool)
    with pytest.raises(ValueError, match="non-empty region"):
        Question("q1", b"", region, "unsure", np.zeros((0, 3), np.float16), 0.0)
    region[0, 0] = True
    with pytest.raises(ValueError, match="why must be one of"):
        Question("q1", b"", region, "bored", np.zeros((1, 3), np.float16), 0.0)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    classes = np.zeros((6, 8), np.uint8)  # lawn
    confidence = np.full((6, 8), 0.9, np.float32)
    return classes, confidence


def test_asks_about_the_largest_unsure_group_of_one_class_when_the_robot_stopped():
    classes, confidence = _grid()
    confidence[0:2, 0:2] = 0.2  # a small unsure patch
    confidence[3:6, 4:8] = 0.3  # a larger one, two classes inside
    classes[3:6, 4:6] = 3
    classes[3:6, 6:8] = 2
    classes[3:6, 7] = 3
    region, why = choose_region(classes, confidence, DEFAULT_CLASSES, "stop_low_confidence",
                                0.6)
    assert why == "unsure"
    expected = np.zeros((6, 8), bool)
    expected[3:6, 4:6] = True  # plant, connected: 6 cells (the other plant column is apart)
    np.testing.assert_array_equal(region, expected)


def test_creeping_over_unsure_ground_asks_about_it_but_not_about_confident_ground():
    classes, confidence = _grid()
    confidence[3:6, 4:8] = 0.3
    classes[3:6, 4:8] = 3
    region, why = choose_region(classes, confidence, DEFAULT_CLASSES, "creep", 0.6)
    assert why == "unsure" and region.sum() == 12
    sure = np.full((6, 8), 0.9, np.float32)
    assert choose_region(classes, sure, DEFAULT_CLASSES, "creep", 0.6) is None, \
        "it drives: nothing confident to doubt"


def test_confident_but_blocked_ground_is_asked_about_as_stopped_and_driving_asks_nothing():
    classes, confidence = _grid()
    classes[2:5, 1:7] = 3  # confident plant across the way
    region, why = choose_region(classes, confidence, DEFAULT_CLASSES, "stop_blocked+clamped",
                                0.6)
    assert why == "stopped" and region.sum() == 18
    assert choose_region(classes, confidence, DEFAULT_CLASSES, "cruise", 0.6) is None
    lone = np.zeros((6, 8), np.uint8)
    lone[0, 0] = 4
    assert choose_region(lone, confidence, DEFAULT_CLASSES, "stop_blocked", 0.6) is None
