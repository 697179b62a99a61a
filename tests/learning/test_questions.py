"""The robot's questions: the board and the answers as owner labels (the chooser:
test_choosing.py)."""

from __future__ import annotations

import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES
from robot.learning.questions import Question, QuestionBoard, QuestionError


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


def test_a_withdrawn_question_cannot_be_answered_and_answered_looks_are_remembered():
    board = QuestionBoard(DEFAULT_CLASSES)
    a, b = _question(board), _question(board, cells=6)
    board.ask(a)
    board.ask(b)
    assert board.withdraw(a.id) and not board.withdraw(a.id)
    with pytest.raises(QuestionError, match=f"no open question '{a.id}'"):
        board.answer(a.id, "lawn")
    assert board.known_kinds().shape == (0, 0)
    board.answer(b.id, "soil")
    known = board.known_kinds()
    assert known.shape == (1, 3) and np.allclose(known[0], b.mean)
    assert board.withdrawn == 1


def test_the_most_useful_open_question_ranks_first():
    board = QuestionBoard(DEFAULT_CLASSES)
    low, high = _question(board), _question(board)
    board.ask(Question(**{**low.__dict__, "usefulness": 2.0}))
    board.ask(Question(**{**high.__dict__, "usefulness": 9.0}))
    assert [q.id for q in board.ranked()] == [high.id, low.id]
