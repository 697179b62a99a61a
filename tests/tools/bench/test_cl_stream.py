"""Building the stream: the manifest reader, the feature cache and the per-step inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES, UNLABELLED
from robot.learning.config import BufferConfig
from robot.learning.replay_buffer import ReplayBuffer
from robot.seeing.backbone import Backbone
from tests.tools.bench.conftest import garden_frame, write_benchmark, write_garden
from tools.bench.cl_features import FeatureCache, frame_cells
from tools.bench.cl_runner import build_buffers, eval_set, train_cells
from tools.bench.cl_stream import BenchError, read_manifest


def test_manifest_becomes_steps_of_train_and_test_recordings(tiny_benchmark: Path):
    stream = read_manifest(tiny_benchmark)
    assert stream.name == "synthetic"
    assert stream.step_names == ["spring", "summer", "winter"]
    assert [s.season for s in stream.steps] == ["spring", "summer", "winter"]
    for k, step in enumerate(stream.steps):
        assert step.index == k
        assert [s.name for s in step.train] == [f"{k}_{step.name}/train/g01"]
        assert [s.name for s in step.test] == [f"{k}_{step.name}/test/g07"]
        assert all(s.kind == "recording" and s.paths[0].is_dir() for s in step.train)
    assert stream.classes == DEFAULT_CLASSES
    assert len(stream.sources()) == 6


def _edit_manifest(root: Path, change) -> None:
    path = root / "manifest.json"
    m = json.loads(path.read_text())
    change(m)
    path.write_text(json.dumps(m))


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.update(format="something-else"), "not a gardenbot benchmark manifest"),
    (lambda m: m.update(steps=m["steps"][:1]), "at least two 'steps'"),
    (lambda m: m["steps"][1].update(recordings=[r for r in m["steps"][1]["recordings"]
                                                if r["role"] == "train"]),
     "step 'summer' has no test recordings"),
    (lambda m: m["steps"][0]["recordings"][0].update(role="validation"), "role 'validation'"),
    (lambda m: m["steps"][2]["recordings"][0].update(path="2_winter/train/nowhere"),
     "is missing"),
    (lambda m: m["steps"][0].pop("season"), "step 0 lacks or garbles a field"),
    (lambda m: m["steps"][1].update(name="spring"), "step names repeat"),
])
def test_a_bad_manifest_is_a_clear_error(tiny_benchmark: Path, change, message):
    _edit_manifest(tiny_benchmark, change)
    with pytest.raises(BenchError, match=message):
        read_manifest(tiny_benchmark)


def test_a_missing_or_garbled_manifest_is_a_clear_error(tmp_path: Path):
    with pytest.raises(BenchError, match="no benchmark manifest"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BenchError, match="not valid JSON"):
        read_manifest(tmp_path)


def test_frame_cells_keep_the_pure_cells_with_their_class():
    features = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    labels = np.full((32, 48), 1, np.uint8)  # a 2 x 3 grid of 16-pixel cells, all path
    labels[:16, :16] = 3  # cell (0, 0): plant
    labels[16:, 32:40] = 0  # cell (1, 2): half lawn, half path -> mixed, dropped
    labels[:16, 16:32] = UNLABELLED  # cell (0, 1): unlabelled, dropped
    x, y = frame_cells(features, labels, (32, 48), 5)
    assert y.tolist() == [3, 1, 1, 1]
    np.testing.assert_array_equal(x, features.reshape(6, 4)[[0, 2, 3, 4]])


def test_a_label_map_of_another_size_is_resized_like_the_frame():
    labels = np.zeros((64, 96), np.uint8)
    labels[:, 64:] = 2  # right third soil, at twice the backbone's input size
    _, y = frame_cells(np.zeros((2, 3, 4), np.float32), labels, (32, 48), 5)
    assert y.tolist() == [0, 0, 2, 0, 0, 2]


def test_features_are_extracted_once_then_read_from_the_cache(tiny_card: Path,
                                                              tiny_benchmark: Path,
                                                              tmp_path: Path):
    stream = read_manifest(tiny_benchmark)
    source = stream.steps[0].train[0]
    bb = Backbone(tiny_card, variant="fp32", threads=1)
    cache = FeatureCache(tmp_path / "cache", bb, stream.classes)
    first = cache.cells(source)
    # 4 labelled frames of a 6 x 8 grid, every cell one class
    assert len(first) == 4 * 6 * 8 and first.frames == 4
    assert first.features.dtype == np.float16 and first.features.shape[1] == bb.feature_dim
    _, labels0 = garden_frame("spring", 10, 0)
    assert first.labels[first.frame == 0].tolist() == labels0[::16, ::16].ravel().tolist()
    again = FeatureCache(tmp_path / "cache", bb, stream.classes)
    second = again.cells(source)
    assert (again.hits, again.misses) == (1, 0)
    np.testing.assert_array_equal(second.features, first.features)
    np.testing.assert_array_equal(second.labels, first.labels)


def test_a_damaged_cache_file_is_recomputed_not_trusted(tiny_card: Path, tiny_benchmark: Path,
                                                         tmp_path: Path):
    stream = read_manifest(tiny_benchmark)
    source = stream.steps[1].test[0]
    bb = Backbone(tiny_card, variant="fp32", threads=1)
    cache = FeatureCache(tmp_path / "cache", bb, stream.classes)
    good = cache.cells(source)
    cache.path(source).write_bytes(b"PK\x03\x04 torn write")
    fresh = FeatureCache(tmp_path / "cache", bb, stream.classes)
    np.testing.assert_array_equal(fresh.cells(source).features, good.features)
    assert fresh.misses == 1


def test_a_regenerated_recording_is_not_served_from_the_cache(tiny_card: Path,
                                                              tiny_benchmark: Path,
                                                              tmp_path: Path):
    stream = read_manifest(tiny_benchmark)
    source = stream.steps[0].test[0]
    bb = Backbone(tiny_card, variant="fp32", threads=1)
    FeatureCache(tmp_path / "cache", bb, stream.classes).cells(source)
    write_garden(source.paths[0], "autumn", 99, frames=3, overwrite=True)  # regenerated
    cache = FeatureCache(tmp_path / "cache", bb, stream.classes)
    assert cache.cells(source).frames == 3 and cache.misses == 1


def test_per_step_inputs_and_the_buffers_before_each_step(tiny_card: Path, tiny_benchmark: Path,
                                                          tmp_path: Path):
    stream = read_manifest(tiny_benchmark)
    bb = Backbone(tiny_card, variant="fp32", threads=1)
    cache = FeatureCache(tmp_path / "cache", bb, stream.classes)
    cells = {s.name: cache.cells(s) for s in stream.sources()}
    new = train_cells(stream.steps[1], cells)
    assert len(new) == 4 * 48 and set(new.season) == {"summer"}
    assert set(new.recording) == {"1_summer/train/g01"}
    ts = eval_set(stream.steps[2].test, cells)
    assert len(ts.labels) == 4 * 48 and ts.frames == 4
    paths = build_buffers(stream, cells, tmp_path / "buffers", bb.feature_dim, bb.backbone_id,
                          BufferConfig(), seed=0)
    sizes = [len(ReplayBuffer.load(p, backbone_sha256=bb.backbone_id)) for p in paths]
    assert sizes == [0, 4 * 48, 2 * 4 * 48]  # before step k: every cell of steps < k (fits)
    seasons = ReplayBuffer.load(paths[2]).season_counts()
    assert seasons == {"spring": 4 * 48, "summer": 4 * 48}


def test_test_set_frame_ids_are_unique_across_its_recordings(tiny_card: Path, tmp_path: Path):
    root = write_benchmark(tmp_path / "b", seasons=("spring", "autumn"), frames=2)
    m = json.loads((root / "manifest.json").read_text())
    extra = dict(m["steps"][0]["recordings"][1], path="0_spring/test/g07b")
    write_garden(root / extra["path"], "spring", 71, frames=2)
    m["steps"][0]["recordings"].append(extra)
    (root / "manifest.json").write_text(json.dumps(m))
    stream = read_manifest(root)
    bb = Backbone(tiny_card, variant="fp32", threads=1)
    cache = FeatureCache(tmp_path / "cache", bb, stream.classes)
    cells = {s.name: cache.cells(s) for s in stream.steps[0].test}
    ts = eval_set(stream.steps[0].test, cells)
    assert ts.frames == 4 and len(ts.labels) == 4 * 48  # 2 recordings x 2 frames, 48 cells
