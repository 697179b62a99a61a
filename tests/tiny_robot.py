"""A tiny real backbone (a few torch conv layers exported to ONNX), painted garden scenes, a
starting adapter store made for it by the real learner, and painted recordings with telemetry."""

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


# the same scene in autumn: straw-yellow lawn, greyer path, darker beds
AUTUMN_PAINT = {0: (40, 170, 190), 1: (120, 130, 140), 2: (30, 50, 80), 3: (60, 90, 150),
                4: (30, 30, 200)}


def paint_scene(layout: np.ndarray, hw: tuple[int, int] = INPUT_HW, seed: int = 0,
                paint: dict[int, tuple[int, int, int]] | None = None) -> np.ndarray:
    """A frame whose cell (r, c) is filled with class layout[r, c]'s colour plus noise."""
    paint = paint or PAINT
    rng = np.random.default_rng(seed)
    h, w = layout.shape
    H, W = hw
    img = np.zeros((H, W, 3), np.float32)
    for r in range(h):
        for c in range(w):
            img[r * H // h:(r + 1) * H // h, c * W // w:(c + 1) * W // w] = paint[int(layout[r, c])]
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


# A garden seen from the robot: beds far away, lawn with a path down the middle nearby.
GARDEN_LAYOUT = np.array([[3, 3, 3, 2, 2, 3, 3, 3],
                          [4, 0, 0, 1, 1, 0, 0, 4],
                          [0, 0, 0, 1, 1, 0, 0, 0],
                          [0, 0, 0, 1, 1, 0, 0, 0],
                          [0, 0, 0, 1, 1, 0, 0, 0],
                          [0, 0, 0, 1, 1, 0, 0, 0]], np.uint8)


def garden_layout(i: int) -> np.ndarray:
    """Frame i's layout: the garden, its bed row rolled sideways a little as the robot moves."""
    layout = GARDEN_LAYOUT.copy()
    layout[0] = np.roll(layout[0], i % 3)
    return layout


def write_painted_recording(path: Path, frames: int = 30, season: str = "summer",
                            fps: float = 10.0, speed_mps: float = 0.3,
                            bump_last: int = 0) -> Path:
    """A recording of painted garden frames (every frame labelled) driving straight along +x,
    with telemetry in the field names the robot and the generator write, and one watering
    zone ahead whose soil is dry."""
    from robot.common.geometry import CameraModel
    from robot.seeing.recording import RecordingMeta, RecordingWriter

    H, W = INPUT_HW
    meta = RecordingMeta(
        fps=fps, width=W, height=H, camera=CameraModel.from_fov(W, H, 70.0, 0.35, 32.0, 0.1),
        season=season, source={"kind": "synthetic", "generator": "painted test garden"},
        extra={"zones": [{"id": 0, "x_m": 1.2, "y_m": 0.0, "radius_m": 0.4}]})
    paint = AUTUMN_PAINT if season == "autumn" else PAINT
    with RecordingWriter(path, meta) as w:
        for i in range(frames):
            layout = garden_layout(i)
            labels = np.kron(layout, np.ones((H // layout.shape[0], W // layout.shape[1]),
                                             np.uint8))
            t = i / fps
            w.add_frame(paint_scene(layout, seed=100 + i, paint=paint), t, labels)
            record = {"t": t, "x_m": speed_mps * t, "y_m": 0.0, "theta_rad": 0.0,
                      "v_mps": speed_mps, "bumper": i >= frames - bump_last,
                      "slip": 0.0, "motor_current_left_a": 0.4,
                      "motor_current_right_a": 0.4, "battery_v": 12.3}
            if i % 10 == 0:
                record["soil_moisture"] = [{"zone": "0", "value": 0.12}]
            w.add_telemetry(record)
    return path


@pytest.fixture(scope="session")
def tiny_defaults(tiny_backbone_card: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Starting data for the tiny backbone, made as `gardenbot defaults` makes the shipped one:
    a replay buffer of painted summer scenes and adapter v1 trained on it by the learner."""
    from robot.common.classes import DEFAULT_CLASSES
    from robot.common.samples import cells_from_grid
    from robot.learning.config import TrainConfig
    from robot.learning.paths import LearnerPaths
    from robot.learning.replay_buffer import ReplayBuffer
    from robot.learning.retrain import RetrainJob, run_retrain
    from robot.seeing.backbone import Backbone

    out = tmp_path_factory.mktemp("tiny-defaults")
    paths = LearnerPaths(out)
    bb = Backbone(tiny_backbone_card, variant="fp32", threads=1)
    buf = ReplayBuffer(FEATURE_DIM, bb.backbone_id, DEFAULT_CLASSES)
    rng = np.random.default_rng(0)
    for seed in range(24):
        layout = garden_layout(seed) if seed % 2 else \
            rng.integers(0, 5, GRID_HW).astype(np.uint8)
        feats = bb.features(paint_scene(layout, seed=seed))
        buf.add(cells_from_grid(feats, layout, num_classes=5, season="summer", time_s=seed,
                                recording="painted"))
    buf.save(paths.buffer)
    result = run_retrain(RetrainJob(str(paths.buffer), str(paths.store),
                                    train=TrainConfig(steps=150)))
    assert result["published"]
    return out


def tiny_config(tmp_path: Path, card: Path, defaults: Path, camera: str = "0",
                port: str = "emulator", extra: str = "") -> Path:
    """A gardenbot.toml for the tiny backbone, its starting data and a fresh data folder."""
    path = tmp_path / "gardenbot.toml"
    path.write_text(
        f'[camera]\nsource = "{camera}"\n'
        f'[perception]\nmodel_card = "{card}"\nvariant = "fp32"\nthreads = 1\n'
        f'[serial]\nport = "{port}"\n'
        f'[paths]\ndata_dir = "{tmp_path / "data"}"\ndefaults_dir = "{defaults}"\n' + extra)
    return path
