"""The perception step: a camera frame → per-cell classes, confidences and novelty.

    frame (H, W, 3) BGR ─► Backbone.features ─► (h, w, C) ─► CellClassifier.classify ─► CellMap

The backbone is frozen (robot/seeing/backbone.py). The classifier ("adapter") is whatever implements
:class:`CellClassifier`; on the robot it is :class:`StoreClassifier`, the current version of
the learner's adapter store (ONNX), which hot-swaps whenever the learner publishes. Only numpy
and onnxruntime run here — never torch.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from robot.common.classes import TRAVERSABLE, UNLABELLED
from robot.common.errors import ModelError

if TYPE_CHECKING:
    from robot.adapter.runner import AdapterRunner

log = logging.getLogger(__name__)


class FeatureExtractor(Protocol):
    """What perception needs of a backbone (robot.seeing.backbone.Backbone is one)."""

    @property
    def grid_hw(self) -> tuple[int, int]: ...

    @property
    def feature_dim(self) -> int: ...

    @property
    def backbone_id(self) -> str: ...

    def features(self, bgr: np.ndarray) -> np.ndarray: ...


class CellClassifier(Protocol):
    """Per-cell classification of a feature grid — the adapter's contract with perception.

    ``classify(features)`` takes (h, w, C) float32 and returns ``classes`` (h, w) uint8 ids into
    ``classes``, ``confidence`` (h, w) float32 in [0, 1] (probability of the chosen class) and
    ``novelty`` — (h, w) float32 or one float, how unlike anything known a cell is (the
    learner's adapters: below 1 for cells like their training data, above 1 for unlike ones);
    optionally a fourth item, ``traversable`` (h, w) float32: the probability mass on the
    traversable classes, which is what the policy's confidence is about (robot/acting/policy.py).
    """

    version: str
    classes: tuple[str, ...]
    feature_dim: int

    def classify(
        self, features: np.ndarray,
    ) -> tuple[np.ndarray, ...] | tuple[np.ndarray, np.ndarray, float]: ...


@dataclass(frozen=True)
class CellMap:
    """What perception saw in one frame, on the backbone's grid."""

    classes: np.ndarray  # (h, w) uint8 class ids
    confidence: np.ndarray  # (h, w) float32, 0..1
    novelty: np.ndarray  # (h, w) float32, > 1 = unlike the adapter's training data
    class_names: tuple[str, ...]
    t: float  # the frame's time, seconds
    adapter_version: str
    features: np.ndarray | None = None  # (h, w, C) float32, for experience labels and replay
    backbone_ms: float = math.nan
    adapter_ms: float = math.nan
    # (h, w) float32 probability mass on the traversable classes; None = the classifier gives
    # only its top class (the policy then judges by that class and its confidence)
    traversable_p: np.ndarray | None = None

    @property
    def grid_hw(self) -> tuple[int, int]:
        return self.classes.shape[0], self.classes.shape[1]

    @property
    def novelty_score(self) -> float:
        """One number per frame for the drift alarm: the mean novelty of its cells."""
        return float(self.novelty.mean())

    def mask(self, names: frozenset[str] | set[str]) -> np.ndarray:
        """(h, w) bool: cells classified as one of ``names``."""
        ids = [i for i, n in enumerate(self.class_names) if n in names]
        return np.isin(self.classes, ids)

    @property
    def traversable(self) -> np.ndarray:
        return self.mask(TRAVERSABLE)


class Perception:
    """Backbone and classifier together; ``step(frame)`` is the fast path of the control loop."""

    def __init__(self, backbone: FeatureExtractor, classifier: CellClassifier) -> None:
        self.backbone = backbone
        self._check(classifier)
        self._classifier = classifier

    @property
    def classifier(self) -> CellClassifier:
        return self._classifier

    def _check(self, classifier: CellClassifier) -> None:
        if classifier.feature_dim != self.backbone.feature_dim:
            raise ModelError(
                f"adapter {classifier.version} takes {classifier.feature_dim} features but the "
                f"backbone gives {self.backbone.feature_dim}: it was made for another backbone"
            )
        made_for = getattr(classifier, "backbone_id", None)
        if made_for and made_for != self.backbone.backbone_id:
            raise ModelError(
                f"adapter {classifier.version} was trained on backbone {made_for[:12]}…, not "
                f"on this one ({self.backbone.backbone_id[:12]}…)"
            )
        if not classifier.classes or len(classifier.classes) >= UNLABELLED:
            raise ModelError(f"adapter {classifier.version} must have 1..254 classes")

    def step(self, bgr: np.ndarray, t: float = math.nan) -> CellMap:
        clf = self._classifier
        t0 = time.perf_counter()
        feats = self.backbone.features(bgr)
        t1 = time.perf_counter()
        out = clf.classify(feats)
        classes, confidence, novelty = out[:3]
        traversable = out[3] if len(out) > 3 else None
        t2 = time.perf_counter()
        hw = feats.shape[:2]
        if np.ndim(novelty) == 0:
            novelty = np.full(hw, float(novelty), np.float32)
        if classes.shape != hw or confidence.shape != hw or np.shape(novelty) != hw or (
                traversable is not None and np.shape(traversable) != hw):
            raise ModelError(f"adapter {clf.version} returned grids of the wrong shape "
                             f"(classes {classes.shape}, confidence {confidence.shape}, "
                             f"novelty {np.shape(novelty)}; want {hw})")
        return CellMap(
            classes.astype(np.uint8, copy=False), confidence.astype(np.float32, copy=False),
            np.asarray(novelty, np.float32), tuple(clf.classes), t, clf.version, feats,
            (t1 - t0) * 1e3, (t2 - t1) * 1e3,
            None if traversable is None else np.asarray(traversable, np.float32),
        )


class StoreClassifier:
    """The learner's adapter store as perception's classifier: a thin wrapper of AdapterRunner.

    Each ``classify`` runs the store's current adapter; when the learner publishes a version
    (or someone rolls back), the runner swaps it in between two frames without stopping.
    ``version`` is the version that classified the latest frame, as text ("v3").
    """

    def __init__(self, runner: AdapterRunner) -> None:
        self.runner = runner
        self.feature_dim = runner.feature_dim
        self.backbone_id = runner.store.backbone_sha256 or ""
        self._version = runner.version

    @classmethod
    def open(cls, store_dir: str | os.PathLike[str], backbone: FeatureExtractor,
             reload_check_s: float = 0.5) -> StoreClassifier:
        """The current adapter of ``store_dir``, made for ``backbone`` (else a ModelError)."""
        from robot.adapter.runner import AdapterRunner

        return cls(AdapterRunner(store_dir, backbone_sha256=backbone.backbone_id,
                                 feature_dim=backbone.feature_dim,
                                 reload_check_s=reload_check_s))

    @property
    def classes(self) -> tuple[str, ...]:
        return self.runner.classes

    @property
    def version(self) -> str:
        return f"v{self._version}"

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, ...]:
        pred = self.runner.predict(np.asarray(features, np.float32))
        self._version = pred.adapter_version
        if pred.traversable is None:
            return pred.classes, pred.confidence, pred.novelty
        return pred.classes, pred.confidence, pred.novelty, pred.traversable
