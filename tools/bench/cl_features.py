"""Frozen features of every labelled cell of a source, extracted once and cached on disk.

The backbone is frozen, so a source's cell features depend only on (backbone file, variant,
source content, label purity). They are computed once per such key and kept as an ``.npz``
(features float16 — what the replay buffer stores anyway) under the cache folder; a rerun of the
benchmark, or another strategy, reads them back in milliseconds. A cache file that does not
match its key, or cannot be read, is recomputed (never trusted).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robot.common.atomic import atomic_write_bytes
from robot.common.classes import UNLABELLED
from robot.common.errors import RecordingError
from robot.common.samples import FP16_MAX
from robot.seeing.labels import cell_labels
from robot.seeing.recording import Recording
from tools.bench.cl_stream import BenchError, Source

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
MIN_PURITY = 0.6  # robot.seeing.labels.cell_labels' default: mixed cells stay unlabelled


@dataclass(frozen=True, eq=False)
class SourceCells:
    """Every labelled cell of one source: N rows."""

    features: np.ndarray  # (N, C) float16
    labels: np.ndarray  # (N,) uint8 class ids
    frame: np.ndarray  # (N,) int32: frame index in the recording / image index in the list
    time_s: np.ndarray  # (N,) float64: the frame's time in its recording (0 for images)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def frames(self) -> int:
        return len(np.unique(self.frame))


def labelled_frames(source: Source, classes: tuple[str, ...]
                    ) -> Iterator[tuple[int, float, np.ndarray, np.ndarray]]:
    """(frame index, time s, BGR image, label map in ``classes`` ids) of every labelled frame."""
    if source.kind == "recording":
        rec = Recording(source.paths[0])
        if tuple(rec.meta.classes) != tuple(classes):
            raise BenchError(f"{source.paths[0]}: class map {list(rec.meta.classes)} differs "
                             f"from the benchmark's {list(classes)}")
        if not rec.labelled:
            raise BenchError(f"{source.paths[0]}: no labelled frames")
        for f in rec.frames(labelled_only=True):
            assert f.labels is not None  # labelled_only
            yield f.index, f.t, f.image, f.labels
        return
    from tools.backbone.data import YCOR_TO_GARDEN

    for i, img_path in enumerate(source.paths):
        lab_path = img_path.with_name(img_path.stem + "_labels.png")
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        lab = cv2.imread(str(lab_path), cv2.IMREAD_UNCHANGED)
        if img is None or lab is None or lab.ndim != 2:
            raise BenchError(f"{img_path}: image or its label map cannot be read")
        if lab.shape != img.shape[:2]:
            raise BenchError(f"{lab_path}: label map {lab.shape} differs from the image "
                             f"{img.shape[:2]}")
        yield i, 0.0, img, YCOR_TO_GARDEN[lab]


def frame_cells(features_hwc: np.ndarray, label_map: np.ndarray, input_hw: tuple[int, int],
                num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, C), labels (n,)) of the labelled cells of one frame.

    The label map is brought to the backbone's input size the way the frame is (nearest
    neighbour, so no class is invented), then each cell takes its majority class when that
    covers MIN_PURITY of it.
    """
    h, w = input_hw
    if label_map.shape != (h, w):
        label_map = cv2.resize(label_map, (w, h), interpolation=cv2.INTER_NEAREST)
    grid = cell_labels(label_map, features_hwc.shape[:2], num_classes, MIN_PURITY)
    keep = grid != UNLABELLED
    return features_hwc[keep], grid[keep]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "source"


class FeatureCache:
    """Cell features per source for one backbone (card + variant), cached under ``root``.

    ``backbone`` is a ``robot.seeing.backbone.Backbone`` (or anything with ``features(bgr)``,
    ``backbone_id``, ``variant``, ``feature_dim`` and ``card.input_hw``).
    """

    def __init__(self, root: str | Path, backbone: Any, classes: tuple[str, ...]) -> None:
        self.backbone = backbone
        self.classes = tuple(classes)
        self.dir = Path(root) / f"{backbone.backbone_id[:16]}-{backbone.variant}"
        self.extracted_s = 0.0  # time spent extracting (not reading the cache) in this process
        self.hits = 0
        self.misses = 0

    def path(self, source: Source) -> Path:
        """One file per source location (two benchmark sets with the same recording names
        do not overwrite each other's features)."""
        where = hashlib.sha256("\n".join(str(p.resolve()) for p in source.paths).encode())
        return self.dir / f"{_safe(source.name)}-{where.hexdigest()[:10]}.npz"

    def _key(self, source: Source) -> dict[str, Any]:
        return {"format": CACHE_FORMAT, "backbone_id": self.backbone.backbone_id,
                "variant": self.backbone.variant, "source": source.name,
                "fingerprint": source.fingerprint(), "classes": list(self.classes),
                "min_purity": MIN_PURITY}

    def cells(self, source: Source) -> SourceCells:
        key = self._key(source)
        cached = self._read(self.path(source), key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        t0 = time.perf_counter()
        cells = self._extract(source)
        self.extracted_s += time.perf_counter() - t0
        self._write(self.path(source), key, cells)
        log.info("features of %s: %d cells from %d frames in %.1f s", source.name, len(cells),
                 cells.frames, time.perf_counter() - t0)
        return cells

    def _extract(self, source: Source) -> SourceCells:
        feats, labels, frames, times = [], [], [], []
        k = len(self.classes)
        try:
            for index, t, image, label_map in labelled_frames(source, self.classes):
                grid = self.backbone.features(image)
                x, y = frame_cells(grid, label_map, tuple(self.backbone.card.input_hw), k)
                feats.append(x)
                labels.append(y)
                frames.append(np.full(len(y), index, np.int32))
                times.append(np.full(len(y), t, np.float64))
        except RecordingError as e:
            raise BenchError(f"source {source.name}: {e}") from e
        c = self.backbone.feature_dim
        if not feats or sum(len(y) for y in labels) == 0:
            raise BenchError(f"source {source.name}: no labelled cells (every cell mixed or "
                             "unlabelled)")
        x = np.concatenate(feats)
        if not np.isfinite(x).all() or np.abs(x).max() > FP16_MAX:
            raise BenchError(f"source {source.name}: the backbone gave NaN/inf or features "
                             "beyond float16's range")
        return SourceCells(x.astype(np.float16).reshape(-1, c), np.concatenate(labels),
                           np.concatenate(frames), np.concatenate(times))

    def _write(self, path: Path, key: dict[str, Any], cells: SourceCells) -> None:
        buf = io.BytesIO()
        np.savez(buf, key=np.frombuffer(json.dumps(key, sort_keys=True).encode(), np.uint8),
                 features=cells.features, labels=cells.labels, frame=cells.frame,
                 time_s=cells.time_s)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())

    @staticmethod
    def _read(path: Path, key: dict[str, Any]) -> SourceCells | None:
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                stored = json.loads(z["key"].tobytes())
                if stored != json.loads(json.dumps(key, sort_keys=True)):
                    log.info("%s: made for another backbone or source version; re-extracting",
                             path)
                    return None
                return SourceCells(z["features"], z["labels"], z["frame"], z["time_s"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            log.warning("%s: unreadable feature cache (%s); re-extracting", path, e)
            return None
