"""The perception step: a camera frame → per-cell classes, confidences and novelty.

    frame (H, W, 3) BGR ─► Backbone.features ─► (h, w, C) ─► CellClassifier.classify ─► CellMap

The backbone is frozen (robot/backbone.py). The classifier ("adapter") is whatever implements
:class:`CellClassifier`: the learner's ONNX adapter, or the :class:`NearestClassMean` here, which
needs no training loop and is also a sound fallback. ``Perception.swap`` replaces the classifier
between two frames without stopping (the learner publishes a new version). Only numpy and
onnxruntime run here — never torch.
"""

from __future__ import annotations

import io
import logging
import math
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from robot.atomic import atomic_write_bytes
from robot.classes import DEFAULT_CLASSES, TRAVERSABLE, UNLABELLED
from robot.errors import ModelError

log = logging.getLogger(__name__)


class FeatureExtractor(Protocol):
    """What perception needs of a backbone (robot.backbone.Backbone is one)."""

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
    ``novelty`` — (h, w) float32 or one float, in [0, 1], how unlike anything known a cell is.
    """

    version: str
    classes: tuple[str, ...]
    feature_dim: int

    def classify(
        self, features: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | float]: ...


@dataclass(frozen=True)
class CellMap:
    """What perception saw in one frame, on the backbone's grid."""

    classes: np.ndarray  # (h, w) uint8 class ids
    confidence: np.ndarray  # (h, w) float32, 0..1
    novelty: np.ndarray  # (h, w) float32, 0..1
    class_names: tuple[str, ...]
    t: float  # the frame's time, seconds
    adapter_version: str
    features: np.ndarray | None = None  # (h, w, C) float32, for experience labels and replay
    backbone_ms: float = math.nan
    adapter_ms: float = math.nan

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

    def swap(self, classifier: CellClassifier) -> None:
        """Use another classifier from the next frame on (one attribute store: thread-safe)."""
        self._check(classifier)
        old = self._classifier.version
        self._classifier = classifier
        log.info("adapter %s replaced by %s", old, classifier.version)

    def step(self, bgr: np.ndarray, t: float = math.nan) -> CellMap:
        clf = self._classifier  # one read, so a concurrent swap cannot mix two adapters
        t0 = time.perf_counter()
        feats = self.backbone.features(bgr)
        t1 = time.perf_counter()
        classes, confidence, novelty = clf.classify(feats)
        t2 = time.perf_counter()
        hw = feats.shape[:2]
        if np.ndim(novelty) == 0:
            novelty = np.full(hw, float(novelty), np.float32)
        if classes.shape != hw or confidence.shape != hw or np.shape(novelty) != hw:
            raise ModelError(f"adapter {clf.version} returned grids of the wrong shape "
                             f"(classes {classes.shape}, confidence {confidence.shape}, "
                             f"novelty {np.shape(novelty)}; want {hw})")
        return CellMap(
            classes.astype(np.uint8, copy=False), confidence.astype(np.float32, copy=False),
            np.asarray(novelty, np.float32), tuple(clf.classes), t, clf.version, feats,
            (t1 - t0) * 1e3, (t2 - t1) * 1e3,
        )


class NearestClassMean:
    """Each class is the mean direction of its features; a cell takes the nearest one by cosine.

    Features are unit-normalised; the class means are compared after subtracting their own
    average (centring: features of a ReLU backbone all point into one orthant, and cosines
    between raw means are all close to 1). confidence = softmax over classes of
    ``scale · cosine`` (the winner's probability), with ``scale`` fitted on the training cells;
    novelty = 1 − raw cosine to the nearest class mean, clipped to [0, 1]. Classes with no
    training features (``counts == 0``) stay in the class map but are never predicted.
    """

    FORMAT = "gardenbot-ncm"

    def __init__(
        self, means: np.ndarray, classes: tuple[str, ...] = DEFAULT_CLASSES,
        counts: np.ndarray | None = None, scale: float = 10.0, version: str = "ncm",
        backbone_id: str = "",
    ) -> None:
        means = np.asarray(means, np.float32)
        if means.ndim != 2 or means.shape[0] != len(classes):
            raise ModelError(f"class means must be (K={len(classes)}, C), got {means.shape}")
        counts = np.ones(len(classes), np.int64) if counts is None else np.asarray(counts)
        if counts.shape != (len(classes),) or not (counts > 0).any():
            raise ModelError("need a sample count per class, at least one of them non-zero")
        if not np.isfinite(means[counts > 0]).all():
            raise ModelError("class means must be finite")
        self._absent = counts == 0
        self._unit = _unit_rows(means)
        self._centre = means[~self._absent].mean(0)
        self._centred = _unit_rows(means - self._centre)
        self.means = means
        self.counts = counts.astype(np.int64)
        self.classes = tuple(classes)
        self.scale = float(scale)
        self.version = version
        self.backbone_id = backbone_id
        self.feature_dim = int(means.shape[1])

    @classmethod
    def fit(
        cls, features: np.ndarray, labels: np.ndarray, classes: tuple[str, ...] = DEFAULT_CLASSES,
        scale: float = 0.0, version: str = "ncm", backbone_id: str = "",
    ) -> NearestClassMean:
        """Class means of unit-normalised features; ``labels`` 255 (unlabelled) are ignored.

        ``scale`` 0 (the default) fits the softmax temperature to the same features.
        """
        features = np.asarray(features, np.float32).reshape(-1, np.shape(features)[-1])
        labels = np.asarray(labels).reshape(-1)
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
        keep = labels != UNLABELLED
        features, labels = features[keep], labels[keep]
        if (labels >= len(classes)).any():
            raise ValueError(f"label {int(labels.max())} is outside the class map "
                             f"({len(classes)} classes)")
        if not np.isfinite(features).all():
            raise ValueError("features contain NaN or infinity")
        unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        k, c = len(classes), features.shape[1]
        sums = np.zeros((k, c), np.float64)
        np.add.at(sums, labels, unit)
        counts = np.bincount(labels, minlength=k)
        if not counts.any():
            raise ValueError("no labelled features to fit class means on")
        means = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        clf = cls(means, classes, counts, scale, version, backbone_id)
        if scale <= 0:  # fit the temperature: least negative log-likelihood on the fit data
            cos = clf._centred_cosines(features)
            best = min(np.geomspace(1.0, 300.0, 48),
                       key=lambda s: _nll(s * cos, labels))
            clf.scale = float(best)
        return clf

    def classify(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if features.ndim != 3 or features.shape[2] != self.feature_dim:
            raise ModelError(f"adapter {self.version} wants (h, w, {self.feature_dim}) features, "
                             f"got {features.shape}")
        h, w, c = features.shape
        f = features.reshape(-1, c)
        bad = ~np.isfinite(f).all(1)  # a damaged frame or model: say "unsure", never guess
        if bad.any():
            f = np.where(bad[:, None], 0.0, f)
        cos = self._centred_cosines(f)
        best = cos.argmax(1)
        top = cos[np.arange(len(best)), best]
        conf = 1.0 / np.exp(self.scale * (cos - top[:, None])).sum(1)  # the winner's softmax
        raw = _unit_rows(f) @ self._unit.T
        novelty = np.clip(1.0 - raw[:, ~self._absent].max(1), 0.0, 1.0)
        conf[bad] = 0.0
        novelty[bad] = 1.0
        return (best.astype(np.uint8).reshape(h, w), conf.astype(np.float32).reshape(h, w),
                novelty.astype(np.float32).reshape(h, w))

    def _centred_cosines(self, f: np.ndarray) -> np.ndarray:
        """(N, K) cosine of each centred feature row to each centred class mean."""
        cos = _unit_rows(_unit_rows(f) - self._centre) @ self._centred.T
        cos[:, self._absent] = -np.inf
        return cos

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an .npz crash-safely (temp file, fsync, rename)."""
        buf = io.BytesIO()
        np.savez(buf, format=np.array(self.FORMAT), means=self.means, counts=self.counts,
                 classes=np.array(self.classes), scale=np.float32(self.scale),
                 version=np.array(self.version), backbone_id=np.array(self.backbone_id))
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NearestClassMean:
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: adapter file is missing")
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["format"]) != cls.FORMAT:
                    raise ModelError(f"{path}: not a nearest-class-mean adapter")
                return cls(z["means"], tuple(str(s) for s in z["classes"]), z["counts"],
                           float(z["scale"]), str(z["version"]), str(z["backbone_id"]))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
            if isinstance(e, ModelError):
                raise
            raise ModelError(f"{path}: adapter file is corrupt or incomplete: {e}") from e


def _unit_rows(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def _nll(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())
