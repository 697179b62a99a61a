"""The loop's question step: frames → the most useful, diverse questions on a bounded board;
an answered kind of ground is not asked about again; answers reach the replay buffer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from robot.acting.policy import DriveCommand
from robot.common.classes import DEFAULT_CLASSES
from robot.learning.choosing import unit_rows
from robot.learning.questions import QuestionBoard
from robot.learning.replay_buffer import ReplayBuffer
from robot.runtime.learning import CellOrigin, Memory, QuestionStep
from robot.runtime.loop import Tick
from robot.seeing.camera import CameraFrame
from robot.seeing.perception import CellMap

GRID, C = (6, 8), 16
LOOKS = unit_rows(np.random.default_rng(0).normal(size=(4, C)))
PLANT = DEFAULT_CLASSES.index("plant")


def _tick(t: float, look: int, reason: str = "stop_low_confidence") -> Tick:
    """A frame where the robot is unsure of a 3 x 4 patch of ground with look ``look``."""
    features = np.tile(LOOKS[3], (*GRID, 1)).astype(np.float32)
    features[1:4, 2:6] = LOOKS[look]
    confidence = np.full(GRID, 0.95, np.float32)
    confidence[1:4, 2:6] = 0.3
    classes = np.zeros(GRID, np.uint8)
    classes[1:4, 2:6] = PLANT
    tick = Tick(int(t * 10), t, frame=CameraFrame(0, t, np.zeros((48, 64, 3), np.uint8)))
    tick.cells = CellMap(classes, confidence, np.full(GRID, 0.5, np.float32), DEFAULT_CLASSES,
                         t, "v1", features=features)
    tick.drive = DriveCommand(0.0, 0.0, 300, reason)
    return tick


def _step(held_back_at: frozenset[float] = frozenset()) -> tuple[QuestionStep, Memory]:
    memory = Memory(ReplayBuffer(C, "test-backbone", DEFAULT_CLASSES), Path(os.devnull))
    step = QuestionStep(QuestionBoard(DEFAULT_CLASSES), memory,
                        lambda tick: CellOrigin("autumn", "test", 0.0,
                                                tick.wall_s in held_back_at),
                        min_confidence=0.6, ask_every_s=1.0)
    return step, memory


def test_one_question_per_kind_of_ground_and_answers_reach_the_buffer():
    step, memory = _step()
    step.run(_tick(0.0, look=0))
    [q] = step.board.open_questions()
    assert q.cells == 12 and q.why == "unsure", "the patch, all alike, one question"
    step.run(_tick(0.5, look=1))
    assert len(step.board) == 1, "at most one look at the frames per ask_every_s"
    step.run(_tick(1.0, look=0))
    assert len(step.board) == 1, "the same kind of ground again: not a second question"
    step.run(_tick(2.0, look=1))
    assert len(step.board) == 2, "another kind of ground: a second question"
    step.board.answer(q.id, "lawn")
    step.run(_tick(3.0, look=0, reason="cruise"))  # collects the answer
    assert memory.offered["owner"] == 12 and step.owner_cells == 12
    step.run(_tick(4.0, look=0))
    assert [x.why for x in step.board.open_questions()] == ["unsure"]
    assert all(not np.allclose(x.mean, q.mean) for x in step.board.open_questions()), \
        "a kind the owner answered is not asked about again"


def test_held_back_frames_and_confident_driving_ask_nothing():
    step, _ = _step(held_back_at=frozenset({0.0}))
    step.run(_tick(0.0, look=0))
    step.run(_tick(2.0, look=0, reason="cruise"))
    assert len(step.board) == 0
