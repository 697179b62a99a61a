"""From pixel label maps to per-cell labels on the backbone's feature grid."""

from __future__ import annotations

import numpy as np

from robot.common.classes import UNLABELLED


def cell_labels(
    label_map: np.ndarray, grid_hw: tuple[int, int], num_classes: int, min_purity: float = 0.6,
) -> np.ndarray:
    """Majority class of each grid cell, or 255 where no class covers ``min_purity`` of it.

    ``label_map`` is (H, W) uint8 with 255 for unlabelled pixels; H and W must be multiples of
    the grid. Mixed cells (an edge between lawn and path) are left unlabelled rather than
    guessed, because a wrong label does more harm to a tiny adapter than a missing one.
    """
    counts = cell_class_counts(label_map, grid_hw, num_classes)
    best = counts.argmax(-1)
    purity = counts.max(-1) / float(label_map.size // (grid_hw[0] * grid_hw[1]))
    return np.where(purity >= min_purity, best, UNLABELLED).astype(np.uint8)


def cell_class_counts(label_map: np.ndarray, grid_hw: tuple[int, int],
                      num_classes: int) -> np.ndarray:
    """(h, w, num_classes): how many pixels of each class every grid cell holds.

    ``label_map`` is (H, W) class ids (255 = unlabelled, counted in no class); H and W must be
    multiples of the grid.
    """
    h, w = grid_hw
    H, W = label_map.shape
    if H % h or W % w:
        raise ValueError(f"label map {H}x{W} does not divide into a {h}x{w} grid")
    sy, sx = H // h, W // w
    blocks = label_map.reshape(h, sy, w, sx).transpose(0, 2, 1, 3).reshape(h, w, sy * sx)
    return np.stack([(blocks == k).sum(-1) for k in range(num_classes)], axis=-1)
