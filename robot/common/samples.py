"""Labelled cells: feature vectors of grid cells with their label and where the label came from.

This is what flows from perception and recordings into the replay buffer and from there into the
learner. Never images: only the backbone's per-cell features (numpy, no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robot.common.classes import UNLABELLED
from robot.common.errors import SampleError

# Where a label came from. The order is the on-disk code of each source: append, never reorder.
LABEL_SOURCES: tuple[str, ...] = ("annotation", "experience", "owner", "pseudo", "probe",
                                 "place")

# The largest magnitude float16 holds; features beyond it would turn into inf in the buffer.
FP16_MAX = 65504.0

# Set labels are uint16 bitmasks over class ids: only classes 0..15 can be in a set. Single
# labels (uint8) are not limited by this.
MAX_SET_CLASSES = 16


def set_mask(class_ids: Sequence[int] | np.ndarray) -> int:
    """The allowed-set bitmask of ``class_ids`` (each below MAX_SET_CLASSES)."""
    mask = 0
    for k in class_ids:
        k = int(k)
        if not 0 <= k < MAX_SET_CLASSES:
            raise SampleError(
                f"class id {k} cannot be in a set label (ids 0..{MAX_SET_CLASSES - 1})")
        mask |= 1 << k
    return mask


def set_members(mask: int) -> tuple[int, ...]:
    """The class ids in an allowed-set bitmask, ascending."""
    return tuple(k for k in range(MAX_SET_CLASSES) if int(mask) >> k & 1)


def set_name(mask: int, classes: Sequence[str]) -> str:
    """A set label for people: its class names joined with "|" (e.g. "lawn|path")."""
    return "|".join(classes[k] if k < len(classes) else str(k) for k in set_members(mask))


@dataclass(frozen=True, eq=False)
class LabelledCells:
    """N labelled cells, one row each. All arrays have length N.

    ``features`` (N, C) float16 or float32; ``labels`` (N,) uint8 class ids; ``source`` (N,)
    str from LABEL_SOURCES; ``season`` (N,) str ("" when unknown); ``time_s`` (N,) float64 unix
    seconds; ``recording`` (N,) str id of the recording or drive; ``uid`` (N,) int64, the
    replay buffer's serial number of the cell (-1 before it entered a buffer).

    ``allowed`` (N,) uint16: 0 for a single label (the class in ``labels``); otherwise a *set
    label*, the bitmask of the classes the cell may be (bit k = class k, so classes 0..15 only;
    at least two bits) and ``labels`` is UNLABELLED (255). "The wheels rolled smoothly here" is
    the set {lawn, path}: the cell is one of them, nobody says which. A one-class set is stored as
    a single label (:func:`make_cells` folds it).
    """

    features: np.ndarray
    labels: np.ndarray
    source: np.ndarray
    season: np.ndarray
    time_s: np.ndarray
    recording: np.ndarray
    uid: np.ndarray
    allowed: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])

    def take(self, index: np.ndarray | slice) -> LabelledCells:
        """A subset (boolean mask, index array or slice), in the given order."""
        return LabelledCells(
            self.features[index], self.labels[index], self.source[index], self.season[index],
            self.time_s[index], self.recording[index], self.uid[index], self.allowed[index],
        )

    @property
    def is_set(self) -> np.ndarray:
        """(N,) bool: which cells carry a set label."""
        return self.allowed != 0

    def label_codes(self) -> np.ndarray:
        """(N,) int64 for the learner: the class id of a single label, minus the bitmask of a
        set label (so a code >= 0 is a class and a code < 0 a set)."""
        return np.where(self.allowed != 0, -self.allowed.astype(np.int64),
                        self.labels.astype(np.int64))

    def features_f32(self) -> np.ndarray:
        return np.ascontiguousarray(self.features, dtype=np.float32)

    @staticmethod
    def empty(feature_dim: int) -> LabelledCells:
        return make_cells(np.zeros((0, feature_dim), np.float32), np.zeros(0, np.uint8))

    @staticmethod
    def concat(parts: Sequence[LabelledCells]) -> LabelledCells:
        if not parts:
            raise SampleError("nothing to concatenate")
        dims = {p.feature_dim for p in parts}
        if len(dims) != 1:
            raise SampleError(f"cannot mix feature dims {sorted(dims)}")
        dtype = np.float32 if any(p.features.dtype == np.float32 for p in parts) else np.float16
        return LabelledCells(
            np.concatenate([p.features.astype(dtype, copy=False) for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.source.astype(str) for p in parts]),
            np.concatenate([p.season.astype(str) for p in parts]),
            np.concatenate([p.time_s for p in parts]),
            np.concatenate([p.recording.astype(str) for p in parts]),
            np.concatenate([p.uid for p in parts]),
            np.concatenate([p.allowed for p in parts]),
        )


def _column(value: object, n: int, dtype: type | str, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return np.full(n, arr.item() if arr.dtype.kind != "U" else str(arr), dtype=dtype)
    if arr.shape != (n,):
        raise SampleError(f"{name} has shape {arr.shape}; expected ({n},) or a single value")
    return arr.astype(dtype)


def make_cells(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    source: str | Sequence[str] | np.ndarray = "annotation",
    season: str | Sequence[str] | np.ndarray | None = "",
    time_s: float | np.ndarray = 0.0,
    recording: str | Sequence[str] | np.ndarray = "",
    uid: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> LabelledCells:
    """Build LabelledCells, broadcasting single metadata values to every row.

    ``allowed`` (optional, (N,) bitmasks, 0 = single label) makes rows set labels; their
    ``labels`` are set to UNLABELLED, and a one-class set becomes a single label of that class.
    Checks shapes only; :func:`validate_cells` checks values against a class map.
    """
    features = np.asarray(features)
    labels = np.asarray(labels)
    if features.ndim != 2:
        raise SampleError(f"features must be (N, C); got shape {features.shape}")
    if features.dtype not in (np.float16, np.float32):
        features = features.astype(np.float32)
    n = features.shape[0]
    if labels.shape != (n,):
        raise SampleError(f"labels have shape {labels.shape}; expected ({n},) for {n} features")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise SampleError(f"labels outside 0..255: min {labels.min()}, max {labels.max()}")
    labels = labels.astype(np.uint8)
    if allowed is None:
        masks = np.zeros(n, np.uint16)
    else:
        raw = np.asarray(allowed)
        if raw.shape != (n,):
            raise SampleError(f"allowed has shape {raw.shape}; expected ({n},)")
        if raw.size and (raw.min() < 0 or raw.max() >= 1 << MAX_SET_CLASSES):
            raise SampleError(f"allowed sets must be bitmasks of classes 0..{MAX_SET_CLASSES - 1}")
        masks = raw.astype(np.uint16)
        single = (masks != 0) & ((masks & (masks - 1)) == 0)  # a set of one class
        labels = labels.copy()
        if single.any():
            labels[single] = np.log2(masks[single]).astype(np.uint8)
            masks[single] = 0
        labels[masks != 0] = UNLABELLED
    return LabelledCells(
        features=features,
        labels=labels,
        source=_column(source, n, "U16", "source"),
        season=_column("" if season is None else season, n, "U32", "season"),
        time_s=_column(time_s, n, np.float64, "time_s"),
        recording=_column(recording, n, "U64", "recording"),
        uid=np.full(n, -1, np.int64) if uid is None else _column(uid, n, np.int64, "uid"),
        allowed=masks,
    )


def validate_cells(
    cells: LabelledCells, num_classes: int, feature_dim: int | None = None, what: str = "cells",
) -> None:
    """Raise SampleError naming the first problem: wrong dim, bad label, NaN/inf, unknown source."""
    if feature_dim is not None and cells.feature_dim != feature_dim:
        raise SampleError(
            f"{what}: features have {cells.feature_dim} channels; expected {feature_dim} "
            "(features from another backbone?)")
    if len(cells) == 0:
        return
    bad = (cells.labels >= num_classes) & (cells.allowed == 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SampleError(
            f"{what}: label {int(cells.labels[i])} at row {i} is outside the class map "
            f"(0..{num_classes - 1}); {int(bad.sum())} such rows. Unlabelled cells ({UNLABELLED}) "
            "must be dropped before adding")
    outside = (cells.allowed.astype(np.int64) >> min(num_classes, MAX_SET_CLASSES)) != 0
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise SampleError(
            f"{what}: set label {set_members(int(cells.allowed[i]))} at row {i} names a class "
            f"outside the class map (0..{num_classes - 1}); {int(outside.sum())} such rows")
    # one pass: a row's largest |value| is NaN or inf exactly when the row has a NaN or an inf
    largest = np.abs(cells.features).max(axis=1)
    finite = np.isfinite(largest)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise SampleError(
            f"{what}: features of row {i} are NaN or infinite; {int((~finite).sum())} such rows")
    too_big = largest > FP16_MAX
    if too_big.any():
        i = int(np.flatnonzero(too_big)[0])
        raise SampleError(f"{what}: features of row {i} exceed the float16 range (±{FP16_MAX:g})")
    unknown = ~np.isin(cells.source, LABEL_SOURCES)
    if unknown.any():
        raise SampleError(
            f"{what}: unknown label source {cells.source[unknown][0]!r}; one of {LABEL_SOURCES}")


def cells_from_grid(
    grid: np.ndarray,
    label_grid: np.ndarray,
    *,
    num_classes: int,
    source: str = "annotation",
    season: str | None = "",
    time_s: float = 0.0,
    recording: str = "",
) -> LabelledCells:
    """The labelled cells of one frame: ``grid`` (h, w, C) features, ``label_grid`` (h, w) ids.

    Cells labelled 255 (unlabelled) are dropped; any other id outside the class map is an error.
    """
    grid = np.asarray(grid)
    label_grid = np.asarray(label_grid)
    if grid.ndim != 3 or label_grid.shape != grid.shape[:2]:
        raise SampleError(
            f"feature grid {grid.shape} and label grid {label_grid.shape} do not match")
    keep = label_grid.reshape(-1) != UNLABELLED
    cells = make_cells(
        grid.reshape(-1, grid.shape[2])[keep], label_grid.reshape(-1)[keep], source=source,
        season=season, time_s=time_s, recording=recording,
    )
    validate_cells(cells, num_classes)
    return cells
