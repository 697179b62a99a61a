from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from robot.adapter.runner import AdapterRunner
from robot.adapter.store import (
    ADAPTER_FILE,
    CURRENT_FILE,
    META_FILE,
    AdapterStore,
    version_dir_name,
)
from robot.common.errors import ModelError, StoreError
from robot.common.samples import LabelledCells
from robot.learning.learner import LearnerState, train
from tests.learner_fixtures import CLASSES, DIM, OTHER_SHA, SHA, cells

A_TRAIN, B_TRAIN = cells(0, 120, seed=1), cells(1, 120, seed=2)
VAL = LabelledCells.concat([cells(0, 30, seed=21), cells(1, 30, seed=22)])


@pytest.fixture(scope="module")
def adapters():
    """good: replay on A then B; forgetful: finetune on B after A (bad on spring)."""
    s0 = LearnerState.initial(CLASSES, DIM, SHA)
    first, s1 = train("replay", s0, A_TRAIN, None, seed=0)
    good, s2 = train("replay", s1, B_TRAIN, A_TRAIN, seed=0)
    forgetful, s3 = train("finetune", s1, B_TRAIN, None, seed=0)
    return {"first": (first, s1), "good": (good, s2), "forgetful": (forgetful, s3)}


def grid_of(c: LabelledCells, h: int = 6, w: int = 10) -> np.ndarray:
    return c.features_f32()[: h * w].reshape(h, w, DIM)


def test_first_publish_then_better_then_worse_is_refused(tmp_path, adapters):
    store = AdapterStore(tmp_path, backbone_sha256=SHA, feature_dim=DIM)
    d1 = store.publish(*adapters["first"], VAL, margin=0.01)
    assert d1.published and d1.version == 1 and "first adapter" in d1.reason
    d2 = store.publish(*adapters["good"], VAL, margin=0.01)
    assert d2.published and d2.version == 2 and d2.candidate_score > d2.current_score
    d3 = store.publish(*adapters["forgetful"], VAL, margin=0.01)
    assert not d3.published and d3.candidate_score < d3.current_score - 0.01
    assert store.current_version() == 2 and store.version_numbers() == [1, 2]
    meta = store.load()[1]
    assert meta["parent"] == 1 and meta["backbone_sha256"] == SHA and meta["classes"] == list(
        CLASSES)
    assert set(meta["validation"]["scores"]["per_season"]) == {"spring", "summer"}


def test_forced_publish_and_rollback_to_any_version(tmp_path, adapters):
    store = AdapterStore(tmp_path, backbone_sha256=SHA, feature_dim=DIM)
    for name in ("first", "good"):
        store.publish(*adapters[name], VAL, margin=0.01)
    assert store.publish(*adapters["forgetful"], VAL, margin=0.01, force=True).published
    assert store.current_version() == 3
    store.rollback(1)
    assert store.current_version() == 1
    assert store.load_state().info["new_cells"] == len(A_TRAIN)
    with pytest.raises(StoreError, match="version 9 does not exist"):
        store.rollback(9)


def test_with_a_current_adapter_and_no_validation_cells_nothing_is_published(tmp_path,
                                                                             adapters):
    store = AdapterStore(tmp_path)
    store.publish(*adapters["first"], VAL, margin=0.01)
    d = store.publish(*adapters["good"], VAL.take(slice(0, 0)), margin=0.01)
    assert not d.published and "no held-out cells" in d.reason


def test_a_corrupt_adapter_is_refused_with_a_clear_error(tmp_path, adapters):
    store = AdapterStore(tmp_path)
    store.publish(*adapters["first"], VAL, margin=0.01)
    path = tmp_path / version_dir_name(1) / ADAPTER_FILE
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="checksum mismatch"):
        store.load(1)
    assert store.versions()[0].error is not None
    with pytest.raises(StoreError):
        store.set_current(1)


@pytest.mark.parametrize("kwargs, match", [
    ({"backbone_sha256": OTHER_SHA}, "made for backbone"),
    ({"feature_dim": 2 * DIM}, "made for 32-channel"),
])
def test_an_adapter_for_another_backbone_is_refused(tmp_path, adapters, kwargs, match):
    AdapterStore(tmp_path).publish(*adapters["first"], VAL, margin=0.01)
    with pytest.raises(ModelError, match=match):
        AdapterStore(tmp_path, **kwargs).load()
    with pytest.raises(ModelError, match=match):
        AdapterRunner(tmp_path, backbone_sha256=kwargs.get("backbone_sha256", SHA),
                      feature_dim=kwargs.get("feature_dim", DIM))


def test_full_disk_while_storing_leaves_the_current_adapter(tmp_path, adapters, monkeypatch):
    store = AdapterStore(tmp_path)
    store.publish(*adapters["first"], VAL, margin=0.01)

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StoreError, match="disk is full"):
        store.publish(*adapters["good"], VAL, margin=0.01)
    monkeypatch.undo()
    assert store.current_version() == 1 and store.version_numbers() == [1]
    assert not list(tmp_path.glob(".tmp-*"))
    store.load()


def test_a_half_written_version_left_by_a_crash_is_ignored_and_cleaned(tmp_path, adapters):
    store = AdapterStore(tmp_path)
    store.publish(*adapters["first"], VAL, margin=0.01)
    half = tmp_path / ".tmp-v000002-4242"
    half.mkdir()
    (half / ADAPTER_FILE).write_bytes(b"\x08\x07")
    assert store.version_numbers() == [1] and store.current_version() == 1
    store.clean_temporary()
    assert not half.exists()


def test_runner_predicts_like_the_adapter_and_hot_swaps_on_publish(tmp_path, adapters):
    store = AdapterStore(tmp_path, backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters["first"], VAL, margin=0.01)
    runner = AdapterRunner(tmp_path, backbone_sha256=SHA, feature_dim=DIM, reload_check_s=0)
    summer = grid_of(cells(1, 20, seed=5))
    p1 = runner.predict(summer)
    expected = adapters["first"][0].predict_grid(summer)
    assert p1.adapter_version == 1 and np.array_equal(p1.classes, expected.classes)
    assert p1.classes.shape == p1.confidence.shape == p1.novelty.shape == (6, 10)
    assert np.array_equal(p1.traversable, expected.traversable)
    store.publish(*adapters["good"], VAL, margin=0.01)
    p2 = runner.predict(summer)
    assert p2.adapter_version == 2
    assert np.array_equal(p2.classes, adapters["good"][0].predict_grid(summer).classes)
    store.rollback(1)
    assert runner.predict(summer).adapter_version == 1


def test_runner_keeps_its_adapter_when_the_new_one_is_corrupt(tmp_path, adapters, caplog):
    store = AdapterStore(tmp_path)
    store.publish(*adapters["first"], VAL, margin=0.01)
    runner = AdapterRunner(tmp_path, backbone_sha256=SHA, feature_dim=DIM, reload_check_s=0)
    store.publish(*adapters["good"], VAL, margin=0.01)
    path = tmp_path / version_dir_name(2) / ADAPTER_FILE
    path.write_bytes(path.read_bytes()[:-10])
    assert runner.predict(grid_of(VAL)).adapter_version == 1
    assert "keeping version 1" in caplog.text
    with pytest.raises(ModelError, match=r"feature grid must be \(h, w, 32\)"):
        runner.predict(np.zeros((6, 10, 8), np.float32))


def test_runner_without_any_adapter_says_so(tmp_path):
    with pytest.raises(StoreError, match="no adapter has been published yet"):
        AdapterRunner(tmp_path, backbone_sha256=SHA, feature_dim=DIM)


def test_the_perception_side_never_imports_torch(tmp_path, adapters):
    AdapterStore(tmp_path).publish(*adapters["first"], VAL, margin=0.01)
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import robot.adapter.exported, robot.adapter.runner, robot.adapter.state
        import robot.adapter.store, robot.common.metrics, robot.common.samples
        import robot.learning.config, robot.learning.process, robot.learning.replay_buffer
        import robot.learning.retrain, robot.learning.schedule, robot.learning.triggers
        from robot.adapter.runner import AdapterRunner
        runner = AdapterRunner({str(tmp_path)!r}, backbone_sha256={SHA!r}, feature_dim={DIM})
        pred = runner.predict(np.zeros((15, 20, {DIM}), np.float32))
        assert pred.classes.shape == (15, 20)
        bad = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
        print("TORCH" if bad else "NO-TORCH", bad[:3])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.getcwd(), check=True)
    assert out.stdout.startswith("NO-TORCH"), out.stdout


def test_a_meta_json_without_checksums_is_refused_and_the_runner_keeps_its_adapter(
        tmp_path, adapters, caplog):
    store = AdapterStore(tmp_path, backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters["first"], VAL, margin=0.01)
    runner = AdapterRunner(tmp_path, backbone_sha256=SHA, feature_dim=DIM, reload_check_s=0)
    store.publish(*adapters["good"], VAL, margin=0.01)
    meta_path = tmp_path / version_dir_name(2) / META_FILE
    meta = json.loads(meta_path.read_text())
    del meta["files"]  # meta.json has no checksum of its own: damage there must be caught
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="no checksum for adapter.onnx"):
        store.load(2)
    with pytest.raises(StoreError, match="no checksum for state.npz"):
        store.load_state(2)
    summer = grid_of(cells(1, 20, seed=5))
    pred = runner.predict(summer)
    assert pred.adapter_version == 1 and "keeping version 1" in caplog.text
    assert np.array_equal(pred.classes, adapters["first"][0].predict_grid(summer).classes)


def test_an_unreadable_pointer_is_a_store_error(tmp_path, adapters):
    store = AdapterStore(tmp_path)
    store.publish(*adapters["first"], VAL, margin=0.01)
    (tmp_path / CURRENT_FILE).unlink()
    (tmp_path / CURRENT_FILE).mkdir()  # reading it is an OSError other than "not found"
    with pytest.raises(StoreError, match="cannot read the pointer"):
        store.current_version()


def test_pruning_cut_short_leaves_no_half_deleted_version(tmp_path, adapters, monkeypatch):
    store = AdapterStore(tmp_path)
    for name in ("first", "good", "forgetful"):
        store.publish(*adapters[name], VAL, margin=0.01, force=True)
    # a power cut right after the rename: nothing of the pruned version was deleted yet
    monkeypatch.setattr("robot.adapter.store.shutil.rmtree", lambda *a, **k: None)
    assert store.prune(2) == [1]
    monkeypatch.undo()
    assert store.version_numbers() == [2, 3]
    assert all(v.error is None for v in store.versions())
    assert list(tmp_path.glob(".tmp-v000001-*"))
    store.clean_temporary()
    assert not list(tmp_path.glob(".tmp-*")) and store.version_numbers() == [2, 3]


def test_clean_temporary_waits_for_a_writer_in_progress(tmp_path, adapters):
    store = AdapterStore(tmp_path)
    store.publish(*adapters["first"], VAL, margin=0.01)
    half = tmp_path / ".tmp-v000002-4242"
    with store._locked():  # as another writer would, while its version is half written
        half.mkdir()
        cleaner = threading.Thread(target=store.clean_temporary)
        cleaner.start()
        cleaner.join(0.3)
        assert cleaner.is_alive() and half.exists()
    cleaner.join(10)
    assert not cleaner.is_alive() and not half.exists()


def test_the_traversable_mass_is_the_probability_of_lawn_or_path():
    from robot.adapter.exported import softmax_outputs

    # class axis first: lawn, path, soil; one cell torn between lawn and path, one soil
    logits = np.log(np.array([[0.45, 0.05], [0.45, 0.05], [0.10, 0.90]]))[:, :, None]
    classes, confidence, traversable = softmax_outputs(logits, traversable_ids=(0, 1))
    assert list(classes[:, 0]) == [0, 2]
    assert confidence[:, 0] == pytest.approx([0.45, 0.90])
    assert traversable[:, 0] == pytest.approx([0.90, 0.10])


def test_a_candidate_that_would_stop_on_known_drivable_ground_is_refused(tmp_path, adapters):
    """Accuracy alone let through adapters that made the robot stop on most of its lawn; the
    store also compares how much known-drivable ground each lets the robot drive on."""
    lawn, plant = CLASSES.index("lawn"), CLASSES.index("plant")
    relabelled = A_TRAIN.labels.copy()
    relabelled[relabelled == lawn] = plant  # a retrain that took the lawn for plants
    taught = dataclasses.replace(A_TRAIN, labels=relabelled)
    stopper = train("finetune", adapters["first"][1], taught, None, seed=0)
    store = AdapterStore(tmp_path, backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters["first"], VAL, margin=0.01)
    val = dataclasses.replace(VAL, uid=np.arange(len(VAL)))  # every cell is today's
    d = store.publish(*stopper, val, margin=1.0, drivable_margin=0.05,  # accuracy: anything
                      new_after_uid=-1)
    assert not d.published and "known-drivable" in d.reason and store.current_version() == 1
    assert store.publish(*stopper, val, margin=1.0).published  # the check off: it passes
    good = store.publish(*adapters["good"], val, margin=0.01, drivable_margin=0.05,
                         new_after_uid=-1)
    assert good.published, good.reason


def test_a_candidate_that_would_drive_into_known_obstacles_is_refused(tmp_path, adapters):
    """The mirror: a retrain that took obstacles for lawn, judged on the cells its parent never
    saw (today's garden), is not published; judged on older cells only, it would be."""
    lawn, obstacle = CLASSES.index("lawn"), CLASSES.index("obstacle")
    relabelled = B_TRAIN.labels.copy()
    relabelled[relabelled == obstacle] = lawn
    reckless = train("replay", adapters["first"][1],
                     dataclasses.replace(B_TRAIN, labels=relabelled), A_TRAIN, seed=0)
    store = AdapterStore(tmp_path, backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters["first"], VAL, margin=0.01)
    store.publish(*adapters["good"], VAL, margin=0.01)  # knows summer's obstacles
    val = dataclasses.replace(VAL, uid=np.arange(len(VAL)))
    new_after = int(np.flatnonzero(VAL.season == "summer")[0]) - 1  # summer cells are new
    d = store.publish(*reckless, val, margin=1.0, drivable_margin=0.05, new_after_uid=new_after)
    assert not d.published and "stop for" in d.reason, d.reason
    assert store.current_version() == 2
    everything_old = store.publish(*reckless, val, margin=1.0, drivable_margin=0.05,
                                   new_after_uid=len(VAL))
    assert everything_old.published
