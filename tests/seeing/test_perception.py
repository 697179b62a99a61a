from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES
from robot.common.errors import ModelError
from robot.seeing.backbone import Backbone
from robot.seeing.overlay import class_palette, render_overlay
from robot.seeing.perception import CellMap, Perception, StoreClassifier
from tests.tiny_robot import AUTUMN_PAINT, FEATURE_DIM, GRID_HW, paint_scene

TRAIN_LAYOUT = np.array([[0, 0, 0, 1, 1, 2, 2, 2],
                         [0, 0, 0, 1, 1, 2, 2, 2],
                         [3, 3, 0, 1, 1, 2, 4, 4],
                         [3, 3, 0, 1, 1, 0, 4, 4],
                         [0, 0, 0, 1, 1, 0, 0, 0],
                         [0, 0, 0, 1, 1, 0, 0, 0]], np.uint8)


@pytest.fixture(scope="module")
def backbone(tiny_backbone_card: Path) -> Backbone:
    return Backbone(tiny_backbone_card, variant="fp32", threads=1)


@pytest.fixture(scope="module")
def adapter(backbone: Backbone, tiny_defaults: Path) -> StoreClassifier:
    """Version 1 of the learner-made starting store (painted summer scenes)."""
    return StoreClassifier.open(tiny_defaults / "adapters", backbone)


def copy_store(tiny_defaults: Path, tmp_path: Path) -> Path:
    shutil.copytree(tiny_defaults / "adapters", tmp_path / "adapters",
                    ignore=shutil.ignore_patterns(".*"))
    return tmp_path / "adapters"


def test_perception_classifies_an_unseen_scene(backbone, adapter):
    rng = np.random.default_rng(7)
    layout = rng.integers(0, 5, GRID_HW).astype(np.uint8)
    frame = paint_scene(layout, hw=(240, 320), seed=2)  # another size: the backbone resizes
    cells = Perception(backbone, adapter).step(frame, t=3.5)
    assert cells.grid_hw == GRID_HW and cells.t == 3.5 and cells.adapter_version == "v1"
    assert (cells.classes == layout).mean() >= 0.9
    assert cells.confidence.dtype == np.float32 and (cells.confidence > 0.5).mean() > 0.8
    assert cells.features.shape == (*GRID_HW, FEATURE_DIM)
    np.testing.assert_array_equal(cells.traversable, np.isin(cells.classes, [0, 1]))  # lawn, path
    p = cells.traversable_p  # the probability of lawn or path: on the side of the top class
    assert p is not None and p.shape == GRID_HW and ((p >= 0.5) == cells.traversable).mean() > 0.95
    assert (p >= cells.confidence - 1e-6)[cells.traversable].all(), "lawn or path ≥ either one"
    assert cells.backbone_ms > 0 and cells.adapter_ms > 0


def test_novelty_rises_when_the_lawn_turns_yellow(backbone, adapter):
    p = Perception(backbone, adapter)
    summer = p.step(paint_scene(TRAIN_LAYOUT, seed=3))
    autumn = p.step(paint_scene(TRAIN_LAYOUT, seed=3, paint=AUTUMN_PAINT))
    assert summer.novelty_score < 1.0, "the adapter's training data scores below 1"
    assert autumn.novelty_score > 2 * summer.novelty_score
    lawn = TRAIN_LAYOUT == 0
    assert (autumn.classes[lawn] == 0).mean() < (summer.classes[lawn] == 0).mean()


def test_adapter_for_another_backbone_is_refused(backbone, tiny_defaults, tmp_path):
    from robot.adapter.store import AdapterStore

    class Wider:  # the same card, but a backbone that gives one more channel
        grid_hw, feature_dim, backbone_id = backbone.grid_hw, FEATURE_DIM + 1, \
            backbone.backbone_id

    with pytest.raises(ModelError, match="made for 16-channel features"):
        StoreClassifier.open(tiny_defaults / "adapters", Wider())
    store = copy_store(tiny_defaults, tmp_path)
    meta_path = store / "v000001" / "meta.json"
    meta = meta_path.read_text().replace(backbone.backbone_id, "f" * 64)
    meta_path.write_text(meta)
    with pytest.raises(ModelError, match="made for backbone ffffffffffff"):
        StoreClassifier.open(store, backbone)
    assert AdapterStore(tiny_defaults / "adapters").current_version() == 1


def test_a_published_version_is_swapped_in_from_the_next_frame(backbone, tiny_defaults,
                                                               tmp_path):
    from robot.adapter.store import AdapterStore
    from robot.common.samples import cells_from_grid
    from robot.learning.learner import train
    from robot.learning.replay_buffer import ReplayBuffer

    store_dir = copy_store(tiny_defaults, tmp_path)
    p = Perception(backbone, StoreClassifier.open(store_dir, backbone, reload_check_s=0.0))
    frame = paint_scene(TRAIN_LAYOUT, seed=5)
    first = p.step(frame)
    # the learner publishes version 2, trained on a world where lawn and path swapped names
    store = AdapterStore(store_dir, backbone_sha256=backbone.backbone_id,
                         feature_dim=FEATURE_DIM)
    swapped = np.choose(TRAIN_LAYOUT, [1, 0, 2, 3, 4]).astype(np.uint8)
    buf = ReplayBuffer.load(tiny_defaults / "replay_buffer.gbrb")
    new = cells_from_grid(backbone.features(paint_scene(TRAIN_LAYOUT, seed=1)), swapped,
                          num_classes=5, season="summer")
    adapter, state = train("finetune", store.load_state(), new, buf)
    store.publish(adapter, state, buf.split()[1].take(slice(0, 0)), margin=1.0, force=True)
    second = p.step(frame)
    assert first.adapter_version == "v1" and second.adapter_version == "v2"
    lawn = TRAIN_LAYOUT == 0
    assert (first.classes[lawn] == 0).mean() > 0.8 and (second.classes[lawn] == 1).mean() > 0.8


def test_overlay_tints_confident_cells_and_hatches_unsure_ones():
    classes = np.zeros((2, 2), np.uint8)
    classes[0, 1] = 4  # obstacle
    conf = np.array([[0.9, 0.9], [0.9, 0.2]], np.float32)
    cells = CellMap(classes, conf, np.zeros((2, 2), np.float32), DEFAULT_CLASSES, 0.0, "v")
    image = np.full((80, 80, 3), 128, np.uint8)
    out = render_overlay(image, cells, status="fps 30", min_confidence=0.5, legend=False)
    assert out.shape == image.shape and (image == 128).all(), "input untouched"
    lawn_px, obstacle_px = out[30, 10].astype(int), out[30, 70].astype(int)
    assert lawn_px[1] > lawn_px[2] and obstacle_px[2] > obstacle_px[1], "class colours"
    unsure = out[50:, 40:].reshape(-1, 3).astype(int)
    assert unsure.min() < 70 and unsure.max() > 200, "dimmed with bright hatch lines"
    assert out[:16].mean() < out[30:40].mean(), "status bar is dark"
    assert class_palette(DEFAULT_CLASSES).shape == (5, 3)


def test_perception_path_never_imports_torch(tiny_backbone_card: Path, tiny_defaults: Path):
    code = f"""
import sys, numpy as np
from robot.seeing.backbone import Backbone
from robot.seeing.camera import open_source
from robot.runtime.config import Config
from robot.seeing.perception import Perception, StoreClassifier
from robot.seeing.overlay import render_overlay
from robot.acting.policy import GroundGrid, drive_command
from robot.learning.experience import experience_labels
from robot.runtime.loop import Loop
from robot.runtime.control import RobotLink, PolicyStep, ActuationStep
from robot.runtime.telemetry import TelemetryStep
from robot.runtime.learning import ExperienceStep, LearnerStep, Memory
from robot.runtime.vision import CameraStep, PerceptionStep
from robot.runtime.output import OverlayStep, RecorderStep, StatusLine
bb = Backbone({str(tiny_backbone_card)!r}, variant="fp32")
p = Perception(bb, StoreClassifier.open({str(tiny_defaults / 'adapters')!r}, bb))
cells = p.step(np.zeros((240, 320, 3), np.uint8))
render_overlay(np.zeros((240, 320, 3), np.uint8), cells, "x")
cfg = Config()
drive_command(cells, GroundGrid.from_camera(cfg.camera.model(), cells.grid_hw), cfg.policy,
              cfg.robot)
assert 'torch' not in sys.modules, 'torch was imported'
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
