"""Pictures for the pages: the live view's annotated JPEG and a question's frame with its
region outlined. Both run on the web server's threads, never in the loop."""

from __future__ import annotations

import cv2
import numpy as np

from robot.dashboard.snapshot import Snapshot
from robot.seeing.overlay import render_overlay


def live_jpeg(snap: Snapshot, quality: int = 75) -> bytes | None:
    """The snapshot's frame with the cells drawn over it (classes, unsure cells hatched, the
    policy's reason in the top bar), as JPEG; None before the first frame."""
    if snap.image is None:
        return None
    image = snap.image
    if snap.cells is not None:
        image = render_overlay(image, snap.cells, f"{snap.adapter_version}  {snap.drive_reason}")
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return data.tobytes() if ok else None


def outline_region(jpeg: bytes, region: np.ndarray, colour: tuple[int, int, int] = (0, 255, 255),
                   quality: int = 85) -> bytes:
    """``jpeg`` with the outline of the cells in ``region`` (a grid mask) drawn on it."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a JPEG image")
    H, W = image.shape[:2]
    mask = cv2.resize(region.astype(np.uint8) * 255, (W, H), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    dark = image.copy()
    dark[mask == 0] = (dark[mask == 0] * 0.55).astype(np.uint8)  # the rest dimmed
    cv2.drawContours(dark, contours, -1, (0, 0, 0), 4)
    cv2.drawContours(dark, contours, -1, colour, 2)
    _ok, data = cv2.imencode(".jpg", dark, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return data.tobytes()
