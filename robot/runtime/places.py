"""Loop steps for the labels the robot finds in its own memory: places and pseudo-labels.

- :class:`PlaceStep` — votes each frame's confident predictions into the memory of places
  (robot/learning/places.py) at the frame's odometry pose; at every keyframe, labels the frame's
  cells from the seasons before (``source="place"``). A new segment (a new day from the dock)
  commits the votes of the one before and saves the map.
- :class:`PseudoStep` — confident predictions seen the same from several viewpoints
  (robot/learning/pseudo.py) → ``source="pseudo"``, capped at a share of the other sources.

Both measure their labels' precision live on frames that carry a label map, and — when the
frame's true pose is known (the simulation) — how far odometry is off it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot.common.classes import UNLABELLED
from robot.common.geometry import CameraModel
from robot.common.samples import make_cells
from robot.learning.places import (
    DriftedOdometry,
    PlaceConfig,
    PlaceMap,
    label_precision,
)
from robot.learning.pseudo import PseudoConfig, ViewTally, familiar_frame
from robot.runtime.learning import Describe, Memory
from robot.runtime.loop import Tick
from robot.seeing.cells import cell_ground_centres, cell_ground_samples

log = logging.getLogger(__name__)


def odometry_pose(tick: Tick) -> tuple[float, float, float] | None:
    """The odometry pose at the tick's frame: its latest telemetry record's."""
    for r in reversed(tick.records):
        try:
            pose = (float(r["x_m"]), float(r["y_m"]), float(r["theta_rad"]))
        except (KeyError, TypeError, ValueError):
            continue
        if all(math.isfinite(v) for v in pose):
            return pose
    return None


@dataclass
class SourceStats:
    """One label source's counts: labels made, checked against truth, correct, buffered."""

    labels: int = 0
    sets: int = 0
    checked: int = 0
    correct: int = 0
    added: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    by_season: dict[str, list[int]] = field(default_factory=dict)  # [labels, checked, correct]

    @property
    def precision(self) -> float | None:
        return self.correct / self.checked if self.checked else None

    def summary(self) -> dict[str, Any]:
        return {"labels": self.labels, "sets": self.sets, "checked": self.checked,
                "precision": self.precision, "added": self.added,
                "by_class": dict(self.by_class),
                "by_season": {s: {"labels": n, "checked": c, "precision": k / c if c else None}
                              for s, (n, c, k) in self.by_season.items()}}


@dataclass
class _Shadow:
    """A measurement-only memory of places under another odometry drift."""

    drift_deg_per_m: float
    map: PlaceMap
    odometry: DriftedOdometry
    stats: SourceStats = field(default_factory=SourceStats)
    pose_error_m: list[float] = field(default_factory=list)


def _error_summary(err: Sequence[float]) -> dict[str, float] | None:
    a = np.asarray(err, float)
    return {"mean": round(float(a.mean()), 3), "max": round(float(a.max()), 3)} if len(a) \
        else None


class PlaceStep:
    """Confident predictions → the memory of places; earlier seasons' memory → labels."""

    name = "places"

    def __init__(self, memory: Memory, camera: CameraModel, grid_hw: tuple[int, int],
                 classes: Sequence[str], describe: Describe, *, garden: str,
                 backbone_sha256: str, path: Path | None = None, cfg: PlaceConfig | None = None,
                 enabled: bool = True, drift_deg_per_m: float = 0.0,
                 shadow_drifts: Sequence[float] = (), alternate_drift: bool = False,
                 label_period_s: float = 0.5) -> None:
        self.memory, self.describe, self.enabled = memory, describe, enabled
        self.classes = tuple(classes)
        self.cfg = cfg or PlaceConfig()
        self.ground = cell_ground_samples(camera, grid_hw, self.cfg.samples)
        self.path = path
        self.label_period_s = label_period_s
        if path is not None and Path(path).is_file():
            self.map = PlaceMap.load(path, garden, backbone_sha256, self.classes, self.cfg)
            log.info("places: %s, %d known map cells from %s", path, self.map.known_cells,
                     ", ".join(self.map.seasons) or "no season")
        else:
            self.map = PlaceMap(garden, backbone_sha256, self.classes, self.cfg)
        self.odometry = DriftedOdometry(drift_deg_per_m, alternate_drift)
        self.drift_deg_per_m = drift_deg_per_m
        self.stats = SourceStats()
        self.shadows = [_Shadow(d, PlaceMap(garden, backbone_sha256, self.classes, self.cfg),
                                DriftedOdometry(d, alternate_drift)) for d in shadow_drifts]
        self.alternate_drift = alternate_drift
        self.pose_error_m: list[float] = []  # odometry (drifted) vs the true pose, per keyframe
        self._segment: int | None = None
        self._season = ""
        self._next_label_t = -math.inf

    def run(self, tick: Tick) -> None:
        if not self.enabled or tick.cells is None:
            return
        seg = tick.segment.index if tick.segment is not None else 0
        if seg != self._segment:
            self._new_day(seg)
        raw = odometry_pose(tick)
        if raw is None:
            return
        cells = tick.cells
        origin = self.describe(tick)
        if not origin.held_back:
            self._season = origin.season
        label_now = cells.t >= self._next_label_t
        if label_now:
            self._next_label_t = cells.t + self.label_period_s
        for shadow in self.shadows:
            pose = shadow.odometry.update(raw)
            if label_now and tick.truth_pose is not None:
                shadow.pose_error_m.append(math.hypot(pose[0] - tick.truth_pose[0],
                                                      pose[1] - tick.truth_pose[1]))
            shadow.map.vote(pose, self.ground, cells.classes, cells.confidence,
                            cells.novelty)
            if label_now and tick.truth is not None and shadow.map.seasons:
                labels, allowed = shadow.map.labels(pose, self.ground)
                _count(shadow.stats, labels, allowed, tick.truth, self.classes,
                       origin.season)
        pose = self.odometry.update(raw)
        if label_now and tick.truth_pose is not None:
            self.pose_error_m.append(math.hypot(pose[0] - tick.truth_pose[0],
                                                pose[1] - tick.truth_pose[1]))
        if not origin.held_back:
            self.map.vote(pose, self.ground, cells.classes, cells.confidence, cells.novelty)
        if not label_now or not self.map.seasons:
            return
        labels, allowed = self.map.labels(pose, self.ground)
        n = _count(self.stats, labels, allowed, tick.truth, self.classes, origin.season)
        if not n or origin.held_back or cells.features is None:
            return
        keep = (labels != UNLABELLED) | (allowed != 0)
        batch = make_cells(cells.features[keep].astype(np.float16), labels[keep],
                           source="place", season=origin.season, time_s=origin.time_s,
                           recording=origin.recording, allowed=allowed[keep])
        self.stats.added += len(batch)
        self.memory.add(batch, "place")

    def _end_day(self) -> None:
        """The day's votes join the memory, which is saved (the next day starts from it)."""
        self.map.commit(self._season)
        for shadow in self.shadows:
            shadow.map.commit(self._season)
        if self.path is not None:
            self.map.save(self.path)

    def _new_day(self, segment: int) -> None:
        """A new segment starts from the dock: the day before joins the memory."""
        if self._segment is not None:
            self._end_day()
        self._segment = segment
        self.odometry.reset()
        for shadow in self.shadows:
            shadow.odometry.reset()
        self._next_label_t = -math.inf

    def summary(self) -> dict[str, Any]:
        return {**self.stats.summary(), "drift_deg_per_m": self.drift_deg_per_m,
                "drift_alternates": self.alternate_drift,
                "known_map_cells": self.map.known_cells, "seasons": list(self.map.seasons),
                "odometry_error_m": _error_summary(self.pose_error_m),
                "by_drift": {f"{s.drift_deg_per_m:g}": {
                    **s.stats.summary(), "odometry_error_m": _error_summary(s.pose_error_m)}
                    for s in self.shadows}}

    def shutdown(self) -> None:
        if self._segment is not None and self.enabled:
            self._end_day()
            self._segment = None


class PseudoStep:
    """Confident predictions consistent across viewpoints → ``source="pseudo"`` (capped)."""

    name = "pseudo"

    def __init__(self, memory: Memory, camera: CameraModel, grid_hw: tuple[int, int],
                 classes: Sequence[str], describe: Describe, cfg: PseudoConfig | None = None,
                 enabled: bool = True, delay_views: int = 4) -> None:
        self.memory, self.describe, self.enabled = memory, describe, enabled
        self.classes = tuple(classes)
        self.cfg = cfg or PseudoConfig()
        self.centres = cell_ground_centres(camera, grid_hw)
        self.delay_views = delay_views  # a view is labelled after this many later viewpoints
        self.stats = SourceStats()
        self.capped = 0  # pseudo-labels left out by the cap
        self.novel_frames = 0  # viewpoints that gave none: the frame looked novel
        self._segment: int | None = None
        self._tally = ViewTally(len(self.classes), self.cfg)
        self._queue: deque[tuple[Any, ...]] = deque()

    def run(self, tick: Tick) -> None:
        if not self.enabled or tick.cells is None:
            return
        seg = tick.segment.index if tick.segment is not None else 0
        if seg != self._segment:
            self._flush()
            self._segment = seg
            self._tally = ViewTally(len(self.classes), self.cfg)
        pose = odometry_pose(tick)
        cells = tick.cells
        if pose is None or cells.features is None:
            return
        if self._tally.add(pose, self.centres, cells.classes, cells.confidence, cells.novelty):
            self._queue.append((pose, cells.classes.copy(), cells.confidence.copy(),
                                cells.novelty.copy(), cells.features.astype(np.float16),
                                tick.truth,
                                self.describe(tick)))
        while len(self._queue) > self.delay_views:
            self._label(*self._queue.popleft())

    def _flush(self) -> None:
        while self._queue:
            self._label(*self._queue.popleft())

    def _label(self, pose: Any, predicted: np.ndarray, confidence: np.ndarray,
               novelty: np.ndarray, features: np.ndarray, truth: np.ndarray | None,
               origin: Any) -> None:
        if not familiar_frame(novelty, self.cfg):
            self.novel_frames += 1
            return
        labels = self._tally.labels(pose, self.centres, predicted, confidence, novelty)
        allowed = np.zeros(labels.shape, np.uint16)
        n = _count(self.stats, labels, allowed, truth, self.classes, origin.season)
        if not n or origin.held_back:
            return
        others = sum(v for k, v in self.memory.offered.items() if k != "pseudo")
        room = int(self.cfg.cap_share * others) - self.memory.offered["pseudo"]
        keep = np.flatnonzero(labels.ravel() != UNLABELLED)
        if room < len(keep):
            # the surest first: the cap keeps the pseudo-labels least likely to be wrong
            order = np.argsort(-confidence.ravel()[keep], kind="stable")
            self.capped += len(keep) - max(room, 0)
            keep = keep[order[:max(room, 0)]]
        if not len(keep):
            return
        batch = make_cells(features.reshape(-1, features.shape[-1])[keep], labels.ravel()[keep],
                           source="pseudo", season=origin.season, time_s=origin.time_s,
                           recording=origin.recording)
        self.stats.added += len(batch)
        self.memory.add(batch, "pseudo")

    def summary(self) -> dict[str, Any]:
        return {**self.stats.summary(), "capped": self.capped, "novel_frames": self.novel_frames}

    def shutdown(self) -> None:
        self._flush()


def _count(stats: SourceStats, labels: np.ndarray, allowed: np.ndarray,
           truth: np.ndarray | None, classes: Sequence[str], season: str = "") -> int:
    """Add a frame's labels to ``stats``; the number of labelled cells."""
    single = labels != UNLABELLED
    n_set = int((allowed != 0).sum())
    n = int(single.sum()) + n_set
    stats.labels += n
    stats.sets += n_set
    for k, c in zip(*np.unique(labels[single], return_counts=True), strict=True):
        stats.by_class[classes[k] if k < len(classes) else str(k)] += int(c)
    if n_set:
        stats.by_class["set"] += n_set
    row = stats.by_season.setdefault(season, [0, 0, 0])
    row[0] += n
    if truth is not None and n:
        checked, correct = label_precision(labels, allowed, truth)
        stats.checked += checked
        stats.correct += correct
        row[1] += checked
        row[2] += correct
    return n
