"""Annotated frames: cell classes painted over the camera image, for `--out` videos and `--show`.

Confident cells are tinted with their class colour (robot/common/classes.py); cells below the
confidence threshold are dimmed and hatched, so "the robot is unsure here" is visible at a
glance; a status line sits on a dark bar at the top and a class legend at the bottom.
"""

from __future__ import annotations

import cv2
import numpy as np

from robot.common.classes import class_colour
from robot.seeing.perception import CellMap

HATCH_PERIOD_PX = 6
BAR_PX = 16


def class_palette(names: tuple[str, ...]) -> np.ndarray:
    """(K, 3) uint8 BGR colour per class id."""
    return np.array([class_colour(n) for n in names], np.uint8).reshape(-1, 3)


def render_overlay(
    image: np.ndarray, cells: CellMap, status: str = "", min_confidence: float = 0.6,
    alpha: float = 0.45, legend: bool = True,
) -> np.ndarray:
    """A new BGR image: ``image`` with ``cells`` drawn over it; the input is not modified."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3) BGR, got {image.dtype} {image.shape}")
    H, W = image.shape[:2]
    palette = class_palette(cells.class_names)
    ids = np.minimum(cells.classes, len(palette) - 1)
    colour = cv2.resize(palette[ids], (W, H), interpolation=cv2.INTER_NEAREST)
    unsure = cv2.resize((cells.confidence < min_confidence).astype(np.uint8), (W, H),
                        interpolation=cv2.INTER_NEAREST).astype(bool)

    img = image.astype(np.float32)
    out = img * (1 - alpha) + colour.astype(np.float32) * alpha
    out[unsure] = img[unsure] * 0.45
    yy, xx = np.mgrid[0:H, 0:W]
    hatch = unsure & ((xx + yy) % HATCH_PERIOD_PX == 0)
    out[hatch] = 220.0
    out = np.clip(out, 0, 255).astype(np.uint8)

    if status:
        _text_bar(out, status, top=True)
    if legend and H >= 3 * BAR_PX:
        _legend(out, cells.class_names, palette)
    return out


def _text_bar(img: np.ndarray, text: str, top: bool) -> None:
    H = img.shape[0]
    y0 = 0 if top else H - BAR_PX
    img[y0 : y0 + BAR_PX] = (img[y0 : y0 + BAR_PX] * 0.25).astype(np.uint8)
    cv2.putText(img, text, (3, y0 + BAR_PX - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                (255, 255, 255), 1, cv2.LINE_AA)


def _legend(img: np.ndarray, names: tuple[str, ...], palette: np.ndarray) -> None:
    H, W = img.shape[:2]
    y0 = H - BAR_PX
    img[y0:] = (img[y0:] * 0.25).astype(np.uint8)
    x = 3
    for name, col in zip(names, palette, strict=True):
        (tw, _), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, 0.33, 1)
        if x + 12 + tw > W:
            break
        cv2.rectangle(img, (x, y0 + 4), (x + 8, y0 + 12), tuple(int(c) for c in col), -1)
        cv2.putText(img, name, (x + 11, y0 + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.33,
                    (255, 255, 255), 1, cv2.LINE_AA)
        x += 11 + tw + 8
