from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot.common.geometry import CameraModel
from robot.seeing.recording import RecordingMeta, RecordingWriter

# The tiny robot's session fixtures, for the tests of every package that runs it.
from tests.tiny_robot import tiny_backbone_card, tiny_defaults  # noqa: F401


def make_meta(width: int = 64, height: int = 48, fps: float = 10.0, **kw) -> RecordingMeta:
    cam = CameraModel.from_fov(width, height, 70.0, 0.35, 32.0)
    return RecordingMeta(fps=fps, width=width, height=height, camera=cam, **kw)


def write_small_recording(
    path: Path, n: int = 12, width: int = 64, height: int = 48, label_every: int = 3,
) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """A recording of smooth colour ramps (so the lossy codec keeps them close) with labels."""
    rng = np.random.default_rng(0)
    frames, labels = [], {}
    meta = make_meta(width, height, season="summer",
                     source={"kind": "synthetic", "generator": "test", "seed": 0})
    with RecordingWriter(path, meta) as w:
        for i in range(n):
            img = np.zeros((height, width, 3), np.uint8)
            img[:] = (i * 17 % 255, 100, 200 - i * 5)
            lab = None
            if i % label_every == 0:
                lab = rng.integers(0, 5, size=(height, width), dtype=np.uint8)
                lab[:4] = 255
                labels[i] = lab
            w.add_frame(img, labels=lab)
            w.add_telemetry({"t": i / 10, "x_m": 0.1 * i, "y_m": 0.0, "theta_rad": 0.0,
                             "bumper": False})
            frames.append(img)
    return frames, labels


@pytest.fixture
def small_recording(tmp_path: Path) -> tuple[Path, list[np.ndarray], dict[int, np.ndarray]]:
    path = tmp_path / "rec"
    frames, labels = write_small_recording(path)
    return path, frames, labels
