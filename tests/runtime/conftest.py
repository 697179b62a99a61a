"""A tiny real backbone (a few torch conv layers exported to ONNX) and painted garden scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

INPUT_HW = (96, 128)  # backbone input; stride 16 → a 6 × 8 grid
GRID_HW = (6, 8)
FEATURE_DIM = 16

# BGR base colour of each default class when painting a scene
PAINT = {0: (40, 150, 40), 1: (150, 150, 150), 2: (40, 70, 110), 3: (140, 60, 160),
         4: (30, 30, 200)}


def paint_scene(layout: np.ndarray, hw: tuple[int, int] = INPUT_HW, seed: int = 0) -> np.ndarray:
    """A frame whose cell (r, c) is filled with class layout[r, c]'s colour plus noise."""
    rng = np.random.default_rng(seed)
    h, w = layout.shape
    H, W = hw
    img = np.zeros((H, W, 3), np.float32)
    for r in range(h):
        for c in range(w):
            img[r * H // h:(r + 1) * H // h, c * W // w:(c + 1) * W // w] = PAINT[int(layout[r, c])]
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_backbone_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from torch import nn

    from tools.backbone.export import export_onnx, grid_geometry, write_card

    out = tmp_path_factory.mktemp("tiny-backbone")
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 12, 4, stride=4), nn.ReLU(),
        nn.Conv2d(12, FEATURE_DIM, 4, stride=4), nn.ReLU(),
    ).eval()
    export_onnx(net, INPUT_HW, out / "backbone.onnx")
    stride, dim = grid_geometry(net, INPUT_HW)
    assert (stride, dim) == (16, FEATURE_DIM)
    return write_card(out, "tiny-test", INPUT_HW, stride, dim, {"fp32": out / "backbone.onnx"},
                      (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), {})
