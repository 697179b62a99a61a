"""Pixel label maps to per-cell labels (robot/seeing/labels.py)."""

from __future__ import annotations

import numpy as np
import pytest

from robot.seeing.labels import cell_labels


def test_cell_labels_majority_and_purity():
    lab = np.zeros((4, 6), np.uint8)
    lab[:, 3:] = 1
    lab[2:, 3:] = 255
    lab[0:2, 0:3] = [[0, 0, 0], [0, 2, 2]]
    cells = cell_labels(lab, (2, 2), num_classes=5, min_purity=0.6)
    # top-left 4/6 lawn; top-right all path; bottom-left all lawn; bottom-right unlabelled
    np.testing.assert_array_equal(cells, [[0, 1], [0, 255]])


def test_cell_labels_rejects_indivisible_maps():
    with pytest.raises(ValueError, match="does not divide"):
        cell_labels(np.zeros((5, 5), np.uint8), (2, 2), 5)
