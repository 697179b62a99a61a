"""The simulated owner: one class per region, from the truth of the frame it was asked about,
at most K answers, just before the retrain; the precision of its labels measured."""

from __future__ import annotations

import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from robot.learning.questions import Question, QuestionBoard
from robot.runtime.loop import Tick
from robot.seeing.camera import CameraFrame
from robot.sim.owner import SimulatedOwner, owner_answer

LAWN, PATH, PLANT = (DEFAULT_CLASSES.index(c) for c in ("lawn", "path", "plant"))


def test_the_answer_is_the_regions_majority_class_and_not_right_for_every_cell():
    counts = np.array([[10, 0, 0], [0, 10, 0], [8, 2, 0], [4, 0, 8]])
    assert owner_answer(counts) == (0, 2), "lawn by pixels; two cells are mostly lawn"


def _tick(i: int, labels: np.ndarray | None) -> Tick:
    return Tick(i, 0.0, frame=CameraFrame(i, i / 10, np.zeros((4, 6, 3), np.uint8), labels))


def _ask(board: QuestionBoard, region: np.ndarray, usefulness: float) -> Question:
    q = Question(board.new_id(), b"", region, "stopped",
                 np.ones((int(region.sum()), 3), np.float16), 0.0, "autumn", "sim",
                 usefulness)
    board.ask(q)
    return q


def test_it_answers_the_most_useful_k_once_when_due_from_the_frame_asked_about():
    board = QuestionBoard(DEFAULT_CLASSES)
    due = [False]
    collected = []
    owner = SimulatedOwner(board, 2, lambda tick: due[0],
                           lambda: collected.append(len(board.take_answers())) or 0)
    labels = np.full((4, 6), LAWN, np.uint8)  # a 2 x 3 grid of 2 x 2 pixel cells
    labels[0:2, 0:2] = PLANT
    labels[2:4, 4:6] = PATH
    left = np.zeros((2, 3), bool)
    left[:, 0] = True
    left[0, 1] = True  # a plant cell and two lawn cells
    q1 = _ask(board, left, usefulness=5.0)
    owner.run(_tick(0, labels))  # the question's own frame: its truth noted
    right = np.zeros((2, 3), bool)
    right[1, 1:] = True  # lawn cell + path cell
    q2 = _ask(board, right, usefulness=9.0)
    owner.run(_tick(1, np.full((4, 6), PATH, np.uint8)))  # a later frame is q2's own
    low = _ask(board, right, usefulness=1.0)
    owner.run(_tick(2, labels))
    assert not owner.stats.answers, "not due yet"
    due[0] = True
    owner.run(_tick(3, labels))
    got = [(a["id"], a["class"], a["cells"], a["correct"]) for a in owner.stats.answers]
    assert got == [(q2.id, "path", 2, 2), (q1.id, "lawn", 3, 2)]
    assert owner.stats.precision == 0.8 and collected == [2]
    assert [q.id for q in board.open_questions()] == [low.id], "at most K answers"
    owner.run(_tick(4, labels))
    assert len(owner.stats.answers) == 2, "once"


def test_a_question_about_a_frame_without_truth_is_never_answered():
    board = QuestionBoard(DEFAULT_CLASSES)
    owner = SimulatedOwner(board, 5, lambda tick: tick.index == 1, lambda: 0)
    region = np.ones((2, 3), bool)
    _ask(board, region, 3.0)
    owner.run(_tick(0, None))
    owner.run(_tick(1, None))
    assert owner.stats.answers == [] and owner.stats.unknown == 1
    assert owner.stats.precision is None
