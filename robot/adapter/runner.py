"""Perception's side of the adapter: run the current adapter on feature grids, hot-swap new ones.

onnxruntime and numpy only — this module (and everything it imports) never imports torch.

    runner = AdapterRunner(store_dir, backbone_sha256=sha, feature_dim=256)
    pred = runner.predict(grid)   # grid (h, w, C) float32 -> classes, confidence, novelty

Each call costs one ``os.stat`` of the store's pointer at most every ``reload_check_s``; when the
learner publishes (or someone rolls back), the next call loads the new version and swaps it in
without stopping. A version that fails to load (corrupt, foreign) is logged once and skipped:
perception keeps the adapter it has.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import numpy as np

from robot.adapter.exported import CellPredictions, ExportedAdapter
from robot.adapter.store import AdapterStore
from robot.common.errors import GardenbotError, ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class GridPrediction(CellPredictions):
    adapter_version: int


class AdapterRunner:
    """The current adapter of a store, ready to run, swapped when the store's pointer moves."""

    def __init__(self, store_dir: str | os.PathLike[str], *, backbone_sha256: str,
                 feature_dim: int, reload_check_s: float = 0.5) -> None:
        self.store = AdapterStore(store_dir, backbone_sha256=backbone_sha256,
                                  feature_dim=feature_dim)
        self.feature_dim = feature_dim
        self.reload_check_s = reload_check_s
        self._stamp = self.store.pointer_stamp()
        self._failed_stamp: tuple[int, int, int] | None = None
        self._next_check = time.monotonic() + reload_check_s
        self.adapter, self.version = self._load_current()  # raises if there is none

    def _load_current(self) -> tuple[ExportedAdapter, int]:
        version = self.store.current_version()
        adapter, _ = self.store.load(version)
        adapter.session()  # build the session now, not on the first frame
        assert version is not None  # load() raised otherwise
        log.info("adapter version %d loaded (%s, %d classes)", version, adapter.strategy,
                 len(adapter.classes))
        return adapter, version

    @property
    def classes(self) -> tuple[str, ...]:
        return self.adapter.classes

    def reload_if_changed(self) -> bool:
        """Swap to the store's current version if the pointer moved. True if swapped."""
        stamp = self.store.pointer_stamp()
        if stamp == self._stamp or stamp is None or stamp == self._failed_stamp:
            return False
        try:
            adapter, version = self._load_current()
        except GardenbotError as e:
            self._failed_stamp = stamp
            log.error("new adapter cannot be loaded, keeping version %d: %s", self.version, e)
            return False
        self.adapter, self.version, self._stamp = adapter, version, stamp
        return True

    def predict(self, grid: np.ndarray) -> GridPrediction:
        """Classes, confidences and novelty of one (h, w, C) feature grid."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.reload_check_s
            self.reload_if_changed()
        if grid.ndim != 3 or grid.shape[2] != self.feature_dim:
            raise ModelError(f"feature grid must be (h, w, {self.feature_dim}); "
                             f"got {grid.shape}")
        p = self.adapter.predict_grid(grid)
        return GridPrediction(p.classes, p.confidence, p.novelty, p.traversable,
                              adapter_version=self.version)
