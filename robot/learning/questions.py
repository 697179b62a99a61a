"""The robot's questions to its owner: "what is this?" about a region of a frame, one tap each.

A :class:`Question` is one frame (JPEG bytes), a region on the cell grid (a boolean mask), why
it was asked ("stopped", "unsure" or "novel") and the backbone features of the region's cells.
A :class:`QuestionBoard` holds the open questions — bounded, the oldest dropped first — and is
safe to use from several threads (the loop asks, the dashboard lists and answers).
:meth:`QuestionBoard.answer` turns an answer into labelled cells with ``source="owner"``;
the loop's question step (robot/runtime/learning.py) offers them to the replay buffer, the
same path every other label takes.

Which regions are worth a question is robot/learning/choosing.py's job (groups of cells that
look alike, the most useful and diverse kept on the board; the loop's question step does the
keeping).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robot.common.errors import GardenbotError
from robot.common.samples import LabelledCells, make_cells

MAX_KNOWN = 1000  # answered looks remembered (not asked about again)

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
    usefulness: float = 0.0  # robot/learning/choosing.py: the summed doubt of its cells

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

    @property
    def mean(self) -> np.ndarray:
        """The region's look: its cells' mean feature, unit length (float32)."""
        m = self.features.astype(np.float32).mean(0)
        return m / max(float(np.linalg.norm(m)), 1e-12)


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
        self._known: list[np.ndarray] = []  # the looks of answered regions
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.asked = 0
        self.answered = 0
        self.dropped = 0
        self.withdrawn = 0

    def new_id(self) -> str:
        return f"q{next(self._ids)}"

    def ask(self, question: Question) -> None:
        with self._lock:
            self._open[question.id] = question
            self.asked += 1
            while len(self._open) > self.capacity:
                self._open.popitem(last=False)
                self.dropped += 1

    def withdraw(self, question_id: str) -> bool:
        """Take an open question off the board (a more useful one about the same kind of ground
        replaced it); False when it is not open (answered meanwhile)."""
        with self._lock:
            gone = self._open.pop(question_id, None) is not None
            self.withdrawn += gone
        return gone

    def known_kinds(self) -> np.ndarray:
        """(m, C) unit rows: the looks of the regions answered so far (not to be asked again)."""
        with self._lock:
            known = list(self._known)
        return np.stack(known) if known else np.zeros((0, 0), np.float32)

    def ranked(self) -> list[Question]:
        """Open questions, most useful first (newest first among equals)."""
        qs = self.open_questions()[::-1]
        return sorted(qs, key=lambda q: -q.usefulness)

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
            self._known.append(q.mean)
            del self._known[:-MAX_KNOWN]
            self.answered += 1
        return answer

    def take_answers(self) -> list[Answer]:
        """Answers given since the last call (the loop offers their cells to the buffer)."""
        with self._lock:
            out, self._answers = self._answers, []
        return out
