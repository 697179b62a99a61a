from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robot.backbone import Backbone
from robot.classes import DEFAULT_CLASSES, UNLABELLED
from robot.errors import ModelError
from robot.overlay import class_palette, render_overlay
from robot.perception import CellMap, NearestClassMean, Perception
from tests.runtime.conftest import FEATURE_DIM, GRID_HW, paint_scene

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
def ncm(backbone: Backbone) -> NearestClassMean:
    feats = backbone.features(paint_scene(TRAIN_LAYOUT, seed=1))
    return NearestClassMean.fit(feats, TRAIN_LAYOUT, version="ncm-test",
                                backbone_id=backbone.backbone_id)


def test_perception_classifies_an_unseen_scene(backbone, ncm):
    rng = np.random.default_rng(7)
    layout = rng.integers(0, 5, GRID_HW).astype(np.uint8)
    frame = paint_scene(layout, hw=(240, 320), seed=2)  # another size: the backbone resizes
    cells = Perception(backbone, ncm).step(frame, t=3.5)
    assert cells.grid_hw == GRID_HW and cells.t == 3.5 and cells.adapter_version == "ncm-test"
    assert (cells.classes == layout).mean() >= 0.95
    assert cells.confidence.dtype == np.float32 and (cells.confidence > 0.5).mean() > 0.9
    assert cells.features.shape == (*GRID_HW, FEATURE_DIM)
    np.testing.assert_array_equal(cells.traversable, np.isin(cells.classes, [0, 1]))  # lawn, path
    assert cells.backbone_ms > 0 and cells.adapter_ms > 0


def test_novelty_rises_when_the_lawn_turns_yellow(backbone, ncm):
    p = Perception(backbone, ncm)
    summer = p.step(paint_scene(TRAIN_LAYOUT, seed=3))
    autumn_lawn = np.full((96, 128, 3), (40, 170, 190), np.uint8)  # BGR straw yellow
    autumn = p.step(autumn_lawn)
    assert summer.novelty_score < 0.1
    assert autumn.novelty_score > 2 * summer.novelty_score
    assert autumn.confidence.mean() < summer.confidence.mean()


def test_classes_without_samples_are_never_predicted(backbone):
    layout = np.where(TRAIN_LAYOUT == 4, 0, TRAIN_LAYOUT)  # no obstacle sample
    feats = backbone.features(paint_scene(layout, seed=1))
    clf = NearestClassMean.fit(feats, layout)
    assert clf.counts[4] == 0
    classes, _, _ = clf.classify(backbone.features(paint_scene(TRAIN_LAYOUT, seed=4)))
    assert not (classes == 4).any()


def test_unlabelled_cells_are_ignored_when_fitting(backbone):
    feats = backbone.features(paint_scene(TRAIN_LAYOUT, seed=1))
    labels = TRAIN_LAYOUT.copy()
    labels[:, :3] = UNLABELLED
    clf = NearestClassMean.fit(feats, labels)
    assert clf.counts.sum() == (labels != UNLABELLED).sum()


def test_nan_features_give_zero_confidence_not_a_guess(ncm):
    feats = np.ones((*GRID_HW, FEATURE_DIM), np.float32)
    feats[1, 2] = np.nan
    _, conf, novelty = ncm.classify(feats)
    assert conf[1, 2] == 0.0 and novelty[1, 2] == 1.0
    assert np.isfinite(conf).all()


def test_adapter_for_another_backbone_is_refused(backbone, ncm):
    wrong_dim = NearestClassMean(np.ones((5, FEATURE_DIM + 1)), version="wide")
    with pytest.raises(ModelError, match="takes 17 features but the backbone gives 16"):
        Perception(backbone, wrong_dim)
    other = NearestClassMean(ncm.means, backbone_id="f" * 64, version="other")
    with pytest.raises(ModelError, match="trained on backbone ffffffffffff"):
        Perception(backbone, other)


def test_swap_changes_the_adapter_from_the_next_frame(backbone, ncm):
    p = Perception(backbone, ncm)
    frame = paint_scene(TRAIN_LAYOUT, seed=5)
    first = p.step(frame)
    flipped = NearestClassMean(ncm.means[[1, 0, 2, 3, 4]], version="ncm-2",
                               counts=ncm.counts[[1, 0, 2, 3, 4]])
    p.swap(flipped)
    second = p.step(frame)
    assert second.adapter_version == "ncm-2"
    lawn = TRAIN_LAYOUT == 0
    assert (first.classes[lawn] == 0).all() and (second.classes[lawn] == 1).all()
    with pytest.raises(ModelError):
        p.swap(NearestClassMean(np.ones((5, 3)), version="bad"))
    assert p.classifier.version == "ncm-2", "a refused swap keeps the working adapter"


def test_ncm_file_round_trips_and_bad_files_are_clear(ncm, tmp_path: Path):
    ncm.save(tmp_path / "a.npz")
    back = NearestClassMean.load(tmp_path / "a.npz")
    assert back.version == ncm.version and back.classes == DEFAULT_CLASSES
    np.testing.assert_array_equal(back.means, ncm.means)
    feats = np.random.default_rng(0).random((*GRID_HW, FEATURE_DIM)).astype(np.float32)
    for a, b in zip(back.classify(feats), ncm.classify(feats), strict=True):
        np.testing.assert_array_equal(a, b)
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "torn.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="torn.npz: adapter file is corrupt"):
        NearestClassMean.load(tmp_path / "torn.npz")
    with pytest.raises(ModelError, match="missing"):
        NearestClassMean.load(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ModelError, match="corrupt or incomplete"):
        NearestClassMean.load(tmp_path / "other.npz")


def test_fit_rejects_bad_labels_and_features():
    with pytest.raises(ValueError, match="outside the class map"):
        NearestClassMean.fit(np.ones((4, 3)), np.array([0, 1, 7, 0]))
    with pytest.raises(ValueError, match="NaN"):
        NearestClassMean.fit(np.full((2, 3), np.nan), np.array([0, 1]))
    with pytest.raises(ValueError, match="no labelled features"):
        NearestClassMean.fit(np.ones((2, 3)), np.array([UNLABELLED, UNLABELLED]))


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


def test_perception_path_never_imports_torch(tiny_backbone_card: Path, tmp_path: Path, ncm):
    ncm.save(tmp_path / "ncm.npz")
    code = f"""
import sys, numpy as np
from robot.backbone import Backbone
from robot.camera import open_source
from robot.config import Config
from robot.perception import NearestClassMean, Perception
from robot.overlay import render_overlay
from robot.policy import GroundGrid, drive_command
from robot.experience import experience_labels
p = Perception(Backbone({str(tiny_backbone_card)!r}, variant="fp32"),
               NearestClassMean.load({str(tmp_path / 'ncm.npz')!r}))
cells = p.step(np.zeros((240, 320, 3), np.uint8))
render_overlay(np.zeros((240, 320, 3), np.uint8), cells, "x")
cfg = Config()
drive_command(cells, GroundGrid.from_camera(cfg.camera.model(), cells.grid_hw), cfg.policy,
              cfg.robot)
assert 'torch' not in sys.modules, 'torch was imported'
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
