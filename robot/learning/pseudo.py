"""Pseudo-labels: confident predictions that stay the same across views of the same ground.

One frame's confident prediction can be confidently wrong; the same patch of ground called the
same class from several places along the way, every time, rarely is. A :class:`ViewTally` keeps,
for one stretch of driving (a season's day: the odometry frame starts at the dock), a fine
top-down grid in the odometry frame of how often each patch was seen (by a grid cell's centre
ray, within ``max_range_m``) and how often each class was predicted there with at least
``min_confidence``. Views are counted only from *distinct viewpoints* (the robot moved or turned
since the last one), so standing still adds nothing.

A grid cell of a frame becomes a pseudo-label (``source="pseudo"``) of class c when
:func:`consistent` holds: its own prediction is c, confident and not novel (a season's new look
is exactly where a confident adapter is wrong), and its ground was seen at least ``min_views``
times, c every time (share ``min_agree``). The loop step caps them at a share of
the cells the other sources gave: they only ever confirm what the adapter sees, so they must
never be the only thing a retrain learns from (docs/places.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robot.common.classes import UNLABELLED
from robot.common.geometry import robot_to_world
from robot.learning.places import grid_index

SOURCE = "pseudo"


@dataclass(frozen=True)
class PseudoConfig:
    resolution_m: float = 0.1  # side of a ground patch
    extent_m: float = 20.0  # the tally covers ±extent_m around the dock
    min_confidence: float = 0.9
    max_novelty: float = 1.0  # … and no more novel than this (1: like 95 % of its training cells)
    max_novel_share: float = 0.1  # a frame with more novel cells than this gives none
    max_range_m: float = 2.5
    min_views: int = 3  # distinct viewpoints that saw the patch …
    min_agree: float = 1.0  # … and the share of them that called it the same class, confidently
    move_m: float = 0.15  # a new viewpoint: moved this far …
    turn_deg: float = 10.0  # … or turned this much since the last one
    cap_share: float = 0.5  # pseudo cells offered ≤ this × cells the other sources offered

    def __post_init__(self) -> None:
        if not (self.resolution_m > 0 and self.extent_m > 0 and self.max_range_m > 0):
            raise ValueError("pseudo resolution_m, extent_m and max_range_m must be > 0")
        if self.min_views < 2:
            raise ValueError(f"pseudo min_views must be >= 2 (one view is no consistency), "
                             f"got {self.min_views}")
        if not 0.0 <= self.max_novel_share <= 1.0:
            raise ValueError(f"pseudo max_novel_share must be in [0, 1], got "
                             f"{self.max_novel_share}")
        if not 0.5 < self.min_agree <= 1.0 or not 0.0 < self.min_confidence <= 1.0:
            raise ValueError("pseudo min_agree must be in (0.5, 1], min_confidence in (0, 1]")
        if self.cap_share < 0:
            raise ValueError(f"pseudo cap_share must be >= 0, got {self.cap_share}")


def sure(confidence: np.ndarray, novelty: np.ndarray, cfg: PseudoConfig) -> np.ndarray:
    """(…) bool: predictions sure enough to count: confident, and of ground like the adapter's
    training data (a confident call on novel ground is where a season fools the adapter)."""
    return (confidence >= cfg.min_confidence) & (novelty <= cfg.max_novelty)


def familiar_frame(novelty: np.ndarray, cfg: PseudoConfig) -> bool:
    """Whether a frame looks like the adapter's training data overall. In a new season most of
    a frame is novel, and the few cells that are not are no safer: measured on g07 autumn, its
    pseudo-labels were right 39 % of the time (docs/places.md), so a frame with more than
    ``max_novel_share`` novel cells gives none at all."""
    return float((novelty > cfg.max_novelty).mean()) <= cfg.max_novel_share


def consistent(predicted: np.ndarray, confidence: np.ndarray, novelty: np.ndarray,
               views: np.ndarray, votes: np.ndarray, cfg: PseudoConfig) -> np.ndarray:
    """(…) bool: which cells' predictions are pseudo-labels, given for each cell the tally of
    its ground patch: ``views`` (…) viewpoints that saw it and ``votes`` (…, K) sure
    predictions per class there (this frame's own view included)."""
    k = votes.shape[-1]
    cls = np.clip(predicted.astype(np.int64), 0, k - 1)
    agree = np.take_along_axis(votes, cls[..., None], -1)[..., 0]
    return ((predicted < k) & sure(confidence, novelty, cfg)
            & (views >= cfg.min_views) & (agree >= cfg.min_agree * views))


class ViewTally:
    """Views and confident class votes per ground patch, for one stretch of odometry."""

    def __init__(self, num_classes: int, cfg: PseudoConfig | None = None) -> None:
        self.cfg = cfg or PseudoConfig()
        self.size = math.ceil(2 * self.cfg.extent_m / self.cfg.resolution_m)
        self.views = np.zeros((self.size, self.size), np.int32)
        self.votes = np.zeros((self.size, self.size, num_classes), np.int32)
        self._last: tuple[float, float, float] | None = None

    def index(self, pose: Sequence[float], centres: np.ndarray,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i, j, inside) of each cell centre's ground patch (centres (h, w, 2), robot frame)."""
        near = np.hypot(centres[..., 0], centres[..., 1]) <= self.cfg.max_range_m
        i, j, inside = grid_index(robot_to_world(centres, tuple(pose)), self.cfg.extent_m,
                                  self.cfg.resolution_m, self.size)
        return i, j, inside & near

    def new_viewpoint(self, pose: Sequence[float]) -> bool:
        """Whether ``pose`` is far enough from the last viewpoint counted."""
        if self._last is None:
            return True
        x, y, th = pose
        lx, ly, lth = self._last
        turn = abs((th - lth + math.pi) % (2 * math.pi) - math.pi)
        return math.hypot(x - lx, y - ly) >= self.cfg.move_m or \
            turn >= math.radians(self.cfg.turn_deg)

    def add(self, pose: Sequence[float], centres: np.ndarray, predicted: np.ndarray,
            confidence: np.ndarray, novelty: np.ndarray) -> bool:
        """Count one frame's view when it is a new viewpoint; whether it was counted."""
        if not np.isfinite(np.asarray(pose, float)).all() or not self.new_viewpoint(pose):
            return False
        self._last = tuple(float(v) for v in pose)  # type: ignore[assignment]
        i, j, inside = self.index(pose, centres)
        # one view per patch per frame, however many of the frame's cells land in it
        flat = np.unique(i[inside] * self.size + j[inside])
        self.views.flat[flat] += 1
        ok = inside & sure(confidence, novelty, self.cfg) \
            & (predicted < self.votes.shape[-1])
        keys = np.unique(np.stack([i[ok], j[ok], predicted[ok].astype(np.int64)], -1), axis=0)
        if len(keys):
            self.votes[keys[:, 0], keys[:, 1], keys[:, 2]] += 1
        return True

    def labels(self, pose: Sequence[float], centres: np.ndarray, predicted: np.ndarray,
               confidence: np.ndarray, novelty: np.ndarray) -> np.ndarray:
        """(h, w) pseudo-label class ids of a frame seen from ``pose`` (255: none)."""
        i, j, inside = self.index(pose, centres)
        ok = inside & consistent(predicted, confidence, novelty, self.views[i, j],
                                 self.votes[i, j], self.cfg)
        return np.where(ok, predicted, UNLABELLED).astype(np.uint8)
