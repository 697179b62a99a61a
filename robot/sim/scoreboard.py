"""How well the robot saw: per-cell accuracy against the recordings' label maps.

Live, every labelled frame's accuracy is filed under its season and the adapter version that
classified it. Frames marked held back (the last part of each recording, never learned from)
also keep their labelled cells' features, so that at the end any two adapter versions can be
compared on exactly the same cells: :func:`evaluate_versions`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot.common.classes import UNLABELLED
from robot.runtime.loop import Tick


@dataclass
class Tally:
    frames: int = 0
    total: float = 0.0

    def add(self, value: float) -> None:
        self.frames += 1
        self.total += value

    @property
    def mean(self) -> float | None:
        return self.total / self.frames if self.frames else None


@dataclass
class HeldBack:
    features: list[np.ndarray] = field(default_factory=list)  # (n, C) float16 per frame
    labels: list[np.ndarray] = field(default_factory=list)
    frames: int = 0

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate(self.features).astype(np.float32), np.concatenate(self.labels))


class Scoreboard:
    """Loop step: files accuracy by (season, adapter version); keeps held-back cells."""

    name = "scoreboard"

    def __init__(self, recent_frames: int = 10) -> None:
        self.live: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.held_back: dict[str, HeldBack] = defaultdict(HeldBack)
        self.version_changes: list[tuple[float, str, str]] = []  # (t, season, version)
        self.recent: list[float] = []
        self.recent_frames = recent_frames
        self._version: str | None = None
        self._season: str | None = None

    def run(self, tick: Tick) -> None:
        if tick.cells is None:
            return
        season = (tick.segment.season if tick.segment is not None else None) or "?"
        version = tick.cells.adapter_version
        if version != self._version:
            if self._version is not None:
                self.version_changes.append((tick.cells.t, season, version))
            self._version = version
        if season != self._season:
            self._season = season
            self.recent.clear()
        if tick.accuracy is None:
            return
        self.live[(season, version)].add(tick.accuracy)
        self.recent.append(tick.accuracy)
        del self.recent[:-self.recent_frames]
        if tick.segment is not None and tick.segment.held_back and tick.truth is not None \
                and tick.cells.features is not None:
            self.hold_back(season, tick.cells.features, tick.truth)

    def hold_back(self, season: str, features: np.ndarray, truth: np.ndarray) -> None:
        """Keep one frame's labelled cells (features (h, w, C), truth (h, w)) to evaluate on."""
        known = truth != UNLABELLED
        hb = self.held_back[season]
        hb.features.append(features[known].astype(np.float16))
        hb.labels.append(truth[known])
        hb.frames += 1

    @property
    def recent_accuracy(self) -> float | None:
        return float(np.mean(self.recent)) if self.recent else None

    def shutdown(self) -> None:
        pass


def evaluate_versions(store: Any, versions: list[int], held_back: dict[str, HeldBack],
                      ) -> dict[str, dict[int, float]]:
    """Accuracy of each adapter version on each season's held-back cells (onnxruntime)."""
    from robot.adapter.exported import evaluate

    out: dict[str, dict[int, float]] = {}
    adapters = {v: store.load(v)[0] for v in versions}
    for season, hb in held_back.items():
        if not hb.frames:
            continue
        features, labels = hb.cells()
        out[season] = {v: evaluate(a, features, labels)["accuracy"]
                       for v, a in adapters.items()}
    return out
