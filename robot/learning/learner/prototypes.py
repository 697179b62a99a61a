"""Novelty prototypes: a few k-means centres per class on standardised, unit-length features.

A cell's novelty is (1 - its cosine similarity to the nearest prototype) divided by a scale
chosen so that ``novelty_quantile`` of the training cells score below 1. Stored in the exported
graph, so perception gets a novelty map with no extra work; the drift alarm watches it.
"""

from __future__ import annotations

import numpy as np

_MAX_CELLS_PER_CLASS = 2000  # k-means on a sample: plenty for a handful of centres
_ITERATIONS = 10


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6)


def spherical_kmeans(x_unit: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k unit-length centres of unit-length rows (k-means on cosine similarity)."""
    if len(x_unit) <= k:
        return x_unit.copy()
    centres = x_unit[rng.choice(len(x_unit), size=k, replace=False)].copy()
    for _ in range(_ITERATIONS):
        assign = (x_unit @ centres.T).argmax(axis=1)
        for j in range(k):
            members = x_unit[assign == j]
            if len(members):
                centres[j] = members.mean(axis=0)
        centres = unit_rows(centres)
    return centres


def raw_novelty(x_unit: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return 1.0 - (x_unit @ centres.T).max(axis=1)


def fit_prototypes(
    z: np.ndarray, labels: np.ndarray, num_classes: int, per_class: int, quantile: float,
    rng: np.random.Generator, old: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Prototype arrays (``proto.*``) from standardised features ``z`` with labels.

    Classes absent from ``z`` keep their prototypes from ``old`` (so a retrain on new data
    alone does not make the old classes look novel).
    """
    centres, owners = [], []
    for k in range(num_classes):
        idx = np.flatnonzero(labels == k)
        if len(idx):
            if len(idx) > _MAX_CELLS_PER_CLASS:
                idx = rng.choice(idx, _MAX_CELLS_PER_CLASS, replace=False)
            c = spherical_kmeans(unit_rows(z[idx]), per_class, rng)
        elif old is not None and "proto.centres" in old:
            c = old["proto.centres"][old["proto.labels"] == k]
        else:
            continue
        centres.append(c)
        owners.append(np.full(len(c), k, np.int64))
    all_centres = np.concatenate(centres).astype(np.float32)
    sample = rng.choice(len(z), min(len(z), 20000), replace=False)
    scale = float(np.quantile(raw_novelty(unit_rows(z[sample]), all_centres), quantile))
    return {
        "proto.centres": all_centres,
        "proto.labels": np.concatenate(owners),
        "proto.scale": np.array(max(scale, 1e-3), np.float32),
    }
