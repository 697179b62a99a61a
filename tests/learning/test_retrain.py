"""run_retrain without a learner process: the learner lock, the buffer's own settings, classes."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from robot.adapter.store import AdapterStore
from robot.common.atomic import atomic_write_json
from robot.common.errors import LearnerError, ReplayBufferError
from robot.learning.config import BufferConfig
from robot.learning.process import LearnerProcess, LearnerStatus
from robot.learning.replay_buffer import ReplayBuffer, is_validation_uid
from robot.learning.retrain import RetrainJob, learner_lock, run_retrain
from tests.learner_fixtures import CLASSES, DIM, SHA, cells, filled_buffer


def test_while_a_retrain_runs_a_second_one_is_refused_and_its_status_kept(tmp_path):
    filled_buffer(tmp_path / "buffer")
    job = RetrainJob(str(tmp_path / "buffer"), str(tmp_path / "store"))
    status_path = tmp_path / "status.json"
    atomic_write_json(status_path, asdict(LearnerStatus("running", "training", 0.4, pid=4242)))
    before = status_path.read_bytes()
    with learner_lock(job.store_dir):  # the retrain that is running
        proc = LearnerProcess(job, status_path)
        with pytest.raises(LearnerError, match="another retrain is already running"):
            proc.start()
        assert proc.pid is None  # no learner process was started
        with pytest.raises(LearnerError, match="another retrain is already running"):
            run_retrain(job)  # the foreground path (gardenbot retrain --foreground)
    assert status_path.read_bytes() == before
    assert AdapterStore(job.store_dir).current_version() is None
    assert run_retrain(job)["published"]  # the lock went with its holder


def test_without_a_buffer_config_the_files_own_settings_apply(tmp_path):
    cfg = BufferConfig(capacity_bytes=5_000_000, validation_fraction=0.3)
    buf = ReplayBuffer(DIM, SHA, CLASSES, cfg)
    buf.add(cells(0, 80, seed=1))
    buf.save(tmp_path / "buffer")
    result = run_retrain(RetrainJob(str(tmp_path / "buffer"), str(tmp_path / "store")))
    held_out = int(is_validation_uid(buf.cells().uid, 0.3).sum())
    assert result["validation_cells"] == held_out
    assert result["new_cells"] + result["replay_cells"] + held_out == len(buf)


def test_job_classes_extend_the_buffers_and_must_keep_its_order(tmp_path):
    filled_buffer(tmp_path / "buffer")
    grown = RetrainJob(str(tmp_path / "buffer"), str(tmp_path / "store"),
                       classes=(*CLASSES, "pond"))
    assert run_retrain(grown)["published"]
    adapter, meta = AdapterStore(tmp_path / "store").load()
    assert adapter.classes == (*CLASSES, "pond") and meta["classes"][-1] == "pond"
    reordered = RetrainJob(str(tmp_path / "buffer"), str(tmp_path / "store"),
                           classes=tuple(reversed(CLASSES)))
    with pytest.raises(ReplayBufferError, match="must start with them in the same order"):
        run_retrain(reordered)
    assert AdapterStore(tmp_path / "store").version_numbers() == [1]
    assert np.isfinite(meta["validation"]["score"])
