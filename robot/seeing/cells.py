"""Feature-grid cells ↔ image pixels ↔ ground points.

The backbone sees the whole frame resized (no crop), so cell (row, col) of an (h, w) grid covers
the same fraction of any image size: pixels ``[col·W/w, (col+1)·W/w) × [row·H/h, (row+1)·H/h)``.
Ground positions come from the camera model (robot/common/geometry.py), robot frame, metres.
"""

from __future__ import annotations

import numpy as np

from robot.common.geometry import CameraModel


def cell_centres_px(grid_hw: tuple[int, int], image_wh: tuple[int, int]) -> np.ndarray:
    """Pixel (u, v) of every cell centre, shape (h, w, 2)."""
    h, w = grid_hw
    W, H = image_wh
    r, c = np.mgrid[0:h, 0:w].astype(float)
    return np.stack([(c + 0.5) * W / w, (r + 0.5) * H / h], axis=-1)


def cell_sample_px(grid_hw: tuple[int, int], image_wh: tuple[int, int], n: int) -> np.ndarray:
    """An n×n lattice of pixel (u, v) points inside every cell, shape (h, w, n·n, 2)."""
    h, w = grid_hw
    W, H = image_wh
    r, c = np.mgrid[0:h, 0:w].astype(float)
    off = (np.arange(n) + 0.5) / n
    du, dv = np.meshgrid(off, off)
    u = (c[..., None] + du.ravel()) * W / w
    v = (r[..., None] + dv.ravel()) * H / h
    return np.stack([u, v], axis=-1)


def pixel_to_cell(uv: np.ndarray, grid_hw: tuple[int, int], image_wh: tuple[int, int],
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, inside) for pixel positions (..., 2); inside is False off the image."""
    h, w = grid_hw
    W, H = image_wh
    u, v = uv[..., 0], uv[..., 1]
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(u) & np.isfinite(v) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
    col = np.where(inside, np.floor(np.nan_to_num(u) * w / W), -1).astype(int)
    row = np.where(inside, np.floor(np.nan_to_num(v) * h / H), -1).astype(int)
    return row, col, inside


def cell_ground_centres(camera: CameraModel, grid_hw: tuple[int, int]) -> np.ndarray:
    """Robot-frame ground point (x, y) at each cell centre, (h, w, 2); NaN above the horizon."""
    uv = cell_centres_px(grid_hw, (camera.width, camera.height))
    return camera.pixels_to_ground(uv[..., 0], uv[..., 1])


def cell_ground_samples(camera: CameraModel, grid_hw: tuple[int, int], n: int = 4) -> np.ndarray:
    """Robot-frame ground points of an n×n lattice per cell, (h, w, n·n, 2); NaN above horizon."""
    uv = cell_sample_px(grid_hw, (camera.width, camera.height), n)
    return camera.pixels_to_ground(uv[..., 0], uv[..., 1])
