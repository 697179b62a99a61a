"""The robot's questions to its owner: "what is this?" about a region of a frame, one tap each.

A :class:`Question` is one frame (JPEG bytes), a region on the cell grid (a boolean mask), why
it was asked ("stopped", "unsure" or "novel") and the backbone features of the region's cells.
A :class:`QuestionBoard` holds the open questions — bounded, the oldest dropped first — and is
safe to use from several threads (the loop asks, the dashboard lists and answers).
:meth:`QuestionBoard.answer` turns an answer into labelled cells with ``source="owner"``;
the loop's question step (robot/runtime/learning.py) offers them to the replay buffer, the
same path every other label takes.

Which frames are worth a question is :func:`choose_region`'s job: for now a frame where the
robot stopped or was unsure, and the largest connected group of unsure (or, when it stopped
on confident ground, blocked) cells in it. The learning issue will replace this chooser; the
board and the answers stay.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robot.common.classes import TRAVERSABLE
from robot.common.errors import GardenbotError
from robot.common.samples import LabelledCells, make_cells

WHY = ("stopped", "unsure", "novel")


class QuestionError(GardenbotError, KeyError):
    """An answer to a question that is not open, or with a class outside the class map."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Question:
    id: str
    jpeg: bytes  # the frame as the robot saw it
    region: np.ndarray  # (h, w) bool on the cell grid: the cells the question is about
    why: str  # one of WHY
    features: np.ndarray  # (n, C) float16: the region's cells, row-major order
    created_s: float  # unix seconds
    season: str = ""
    recording: str = ""

    def __post_init__(self) -> None:
        if self.why not in WHY:
            raise ValueError(f"why must be one of {WHY}, got {self.why!r}")
        n = int(self.region.sum())
        if n == 0 or self.features.shape[0] != n:
            raise ValueError(f"a question needs a non-empty region with one feature row per "
                             f"cell; got {n} cells and {self.features.shape[0]} rows")

    @property
    def cells(self) -> int:
        return int(self.region.sum())


@dataclass(frozen=True)
class Answer:
    question: Question
    class_name: str
    cells: LabelledCells  # source "owner", one row per region cell


class QuestionBoard:
    """Open questions, newest last; at most ``capacity`` (the oldest is dropped for a new one).

    Answered questions leave the board; their labelled cells wait in :meth:`take_answers`
    until the loop collects them.
    """

    def __init__(self, classes: Sequence[str], capacity: int = 20) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.classes = tuple(classes)
        self.capacity = capacity
        self._open: OrderedDict[str, Question] = OrderedDict()
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.asked = 0
        self.answered = 0
        self.dropped = 0

    def new_id(self) -> str:
        return f"q{next(self._ids)}"

    def ask(self, question: Question) -> None:
        with self._lock:
            self._open[question.id] = question
            self.asked += 1
            while len(self._open) > self.capacity:
                self._open.popitem(last=False)
                self.dropped += 1

    def __len__(self) -> int:
        return len(self._open)  # no lock: the loop reads this every tick

    def open_questions(self) -> list[Question]:
        with self._lock:
            return list(self._open.values())

    def get(self, question_id: str) -> Question:
        with self._lock:
            q = self._open.get(question_id)
        if q is None:
            raise QuestionError(f"no open question {question_id!r} (answered already, or "
                                "dropped for newer ones)")
        return q

    def answer(self, question_id: str, class_name: str) -> Answer:
        """The owner says the region is ``class_name``: labelled cells for the buffer."""
        if class_name not in self.classes:
            raise QuestionError(f"{class_name!r} is not a class of this robot "
                                f"({', '.join(self.classes)})")
        with self._lock:
            q = self._open.pop(question_id, None)
            if q is None:
                raise QuestionError(f"no open question {question_id!r} (answered already, or "
                                    "dropped for newer ones)")
            label = self.classes.index(class_name)
            cells = make_cells(q.features, np.full(q.cells, label, np.uint8), source="owner",
                               season=q.season, time_s=time.time(), recording=q.recording)
            answer = Answer(q, class_name, cells)
            self._answers.append(answer)
            self.answered += 1
        return answer

    def take_answers(self) -> list[Answer]:
        """Answers given since the last call (the loop offers their cells to the buffer)."""
        with self._lock:
            out, self._answers = self._answers, []
        return out


def largest_region(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected group of True cells in ``mask`` (all False if none)."""
    h, w = mask.shape
    labels = np.zeros((h, w), np.int32)
    best, best_size, current = 0, 0, 0
    for r0, c0 in zip(*np.nonzero(mask), strict=True):
        if labels[r0, c0]:
            continue
        current += 1
        labels[r0, c0] = current
        stack, size = [(r0, c0)], 0
        while stack:
            r, c = stack.pop()
            size += 1
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= rr < h and 0 <= cc < w and mask[rr, cc] and not labels[rr, cc]:
                    labels[rr, cc] = current
                    stack.append((rr, cc))
        if size > best_size:
            best, best_size = current, size
    return labels == best if best else np.zeros_like(mask, bool)


STOP_REASONS = frozenset({"stop_blocked", "stop_low_confidence"})
CREEP_REASON = "creep"  # driving slowly over ground perception is unsure of: worth a question


def choose_region(classes: np.ndarray, confidence: np.ndarray, class_names: Sequence[str],
                  drive_reason: str | None, min_confidence: float,
                  min_cells: int = 3) -> tuple[np.ndarray, str] | None:
    """The region worth asking about in this frame, and why, or None.

    Asked when the policy stopped (``stop_blocked``, ``stop_low_confidence``): the largest
    connected group of cells perception is unsure of ("unsure"); when every cell is confident,
    the largest group of cells it would not drive on ("stopped" — perhaps wrongly). When it
    creeps (``creep``: slowed by unsure ground, docs/policy.md) only the unsure group is asked
    about — the owner's answer is what lets it drive at full speed there next time. A group
    holds cells of one predicted class only, so that one answer fits all of them. A region
    smaller than ``min_cells`` is not worth the owner's tap.
    """
    reason = (drive_reason or "").split("+")[0]
    if reason not in STOP_REASONS and reason != CREEP_REASON:
        return None
    names = np.array(class_names)
    blocked = ~np.isin(names[classes], list(TRAVERSABLE))
    asks = [("unsure", confidence < min_confidence)]
    if reason in STOP_REASONS:
        asks.append(("stopped", blocked))
    for why, mask in asks:
        best = np.zeros(classes.shape, bool)
        for k in np.unique(classes[mask]):
            region = largest_region(mask & (classes == k))
            if region.sum() > best.sum():
                best = region
        if best.sum() >= min_cells:
            return best, why
    return None
