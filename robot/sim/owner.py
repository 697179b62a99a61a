"""The simulated garden owner who answers the robot's questions (closed loop).

:class:`SimulatedOwner` is a loop step after the question step (robot/runtime/learning.py).
When a question appears on the board it notes, from the frame's label map (the truth the
garden rendered with it), how many pixels of each class every cell of the region holds. When
``due(tick)`` says so (just before the retrain button is pressed) it answers at most
``answers`` of the open questions, the most useful first, each with ONE class — the majority
class of the region's pixels, as a person looking at the outlined region would — and hands
the answers to the buffer at once (the question step's ``collect``), so the retrain started in
the same tick learns from them. A region can mix classes, so the answer is not right for every
cell: :class:`OwnerStats` measures the share of answered cells whose own majority class is the
answer (the owner label's precision).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot.learning.questions import QuestionBoard
from robot.runtime.loop import Tick
from robot.seeing.labels import cell_class_counts

log = logging.getLogger(__name__)


@dataclass
class OwnerStats:
    answers: list[dict[str, Any]] = field(default_factory=list)  # one per answer
    unknown: int = 0  # questions asked about a frame without a label map (not answerable)

    @property
    def cells(self) -> int:
        return sum(a["cells"] for a in self.answers)

    @property
    def correct(self) -> int:
        return sum(a["correct"] for a in self.answers)

    @property
    def precision(self) -> float | None:
        return self.correct / self.cells if self.cells else None

    def summary(self) -> dict[str, Any]:
        return {"answered": len(self.answers), "cells": self.cells, "correct": self.correct,
                "precision": self.precision, "answers": self.answers}


def owner_answer(counts: np.ndarray) -> tuple[int, int]:
    """(class, cells it is right for) for a region whose cells hold ``counts`` (n, classes)
    pixels of each class: the region's majority class by pixels, and how many of its cells
    have that class as their own majority."""
    answer = int(counts.sum(0).argmax())
    labelled = counts.sum(1) > 0
    return answer, int((counts[labelled].argmax(1) == answer).sum())


class SimulatedOwner:
    """Answers up to ``answers`` questions from the truth, once, when ``due`` (module doc)."""

    name = "sim_owner"

    def __init__(self, board: QuestionBoard, answers: int, due: Callable[[Tick], bool],
                 collect: Callable[[], int]) -> None:
        if answers < 0:
            raise ValueError(f"answers must be >= 0, got {answers}")
        self.board = board
        self.answers = answers
        self.due = due
        self.collect = collect
        self.stats = OwnerStats()
        self.done = False
        self._truth: dict[str, np.ndarray] = {}  # question id → (cells, classes) pixel counts

    def run(self, tick: Tick) -> None:
        if self.done:
            return
        open_qs = self.board.open_questions()
        ids = {q.id for q in open_qs}
        for q in open_qs:
            if q.id in self._truth:
                continue
            labels = tick.frame.labels if tick.frame is not None else None
            if labels is None:  # asked about a frame with no truth: the owner cannot answer
                self._truth[q.id] = np.zeros((0, 0), np.int64)
                self.stats.unknown += 1
                continue
            counts = cell_class_counts(labels, q.region.shape, len(self.board.classes))
            self._truth[q.id] = counts[q.region]
        for gone in set(self._truth) - ids:  # withdrawn or dropped: no longer answerable
            del self._truth[gone]
        if self.answers == 0 or not self.due(tick):
            return
        self.done = True
        for q in self.board.ranked():
            if len(self.stats.answers) >= self.answers:
                break
            counts = self._truth.get(q.id)
            if counts is None or counts.size == 0:
                continue
            label, correct = owner_answer(counts)
            name = self.board.classes[label]
            self.board.answer(q.id, name)
            self.stats.answers.append({"id": q.id, "why": q.why, "season": q.season,
                                       "class": name, "cells": q.cells, "correct": correct,
                                       "usefulness": round(q.usefulness, 2)})
        self.collect()
        log.info("the simulated owner answered %d questions (%d cells, precision %s)",
                 len(self.stats.answers), self.stats.cells, self.stats.precision)

    def shutdown(self) -> None:
        pass
