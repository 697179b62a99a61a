"""Loop steps that see: the camera, and perception with its accuracy against label maps."""

from __future__ import annotations

import logging
import time

import numpy as np

from robot.common.classes import UNLABELLED
from robot.runtime.loop import Tick
from robot.seeing.camera import FrameSource
from robot.seeing.labels import cell_labels
from robot.seeing.perception import Perception

log = logging.getLogger(__name__)


class CameraStep:
    """Reads one frame per tick: ``tick.frame`` (None during a live outage) and, for a
    sequence of recordings, ``tick.segment``. The end of a finite source stops the loop."""

    name = "camera"

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.frames = 0

    def run(self, tick: Tick) -> None:
        frame = self.source.read_frame()
        if frame is None:
            if self.source.finished:
                tick.stop = "end of input"
            return
        self.frames += 1
        tick.frame = frame
        tick.frame_wall_s = time.monotonic()
        tick.segment = getattr(self.source, "segment", None)

    def shutdown(self) -> None:
        self.source.close()


class PerceptionStep:
    """``tick.frame`` → ``tick.cells``; with a label map also ``tick.truth`` (cell labels) and
    ``tick.accuracy`` (share of labelled cells classified right)."""

    name = "perception"

    def __init__(self, perception: Perception, min_purity: float = 0.6) -> None:
        self.perception = perception
        self.min_purity = min_purity

    def run(self, tick: Tick) -> None:
        if tick.frame is None:
            return
        cells = self.perception.step(tick.frame.image, tick.frame.t)
        tick.cells = cells
        if tick.frame.labels is not None:
            tick.truth = cell_labels(tick.frame.labels, cells.grid_hw, len(cells.class_names),
                                     self.min_purity)
            tick.accuracy = accuracy(cells.classes, tick.truth)

    def shutdown(self) -> None:
        pass


def accuracy(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """Share of labelled cells (truth ≠ 255) whose prediction is right; None with none."""
    known = truth != UNLABELLED
    return float((pred[known] == truth[known]).mean()) if known.any() else None
