"""The learner process: low priority, reports progress, can be cancelled, survives being killed.

Each test starts a fresh interpreter that imports torch (a few seconds): marked slow.
"""

from __future__ import annotations

import os
import time

import pytest

from robot.adapter.runner import AdapterRunner
from robot.adapter.store import AdapterStore
from robot.common.errors import LearnerError
from robot.learning.config import LearnerProcessConfig, TrainConfig
from robot.learning.process import LearnerProcess, read_status
from robot.learning.replay_buffer import ReplayBuffer
from robot.learning.retrain import RetrainJob, run_retrain
from tests.learner_fixtures import DIM, SHA, cells, filled_buffer

pytestmark = pytest.mark.slow


@pytest.fixture
def robot_dir(tmp_path):
    """A robot that has published version 1 (spring) and since recorded summer cells."""
    filled_buffer(tmp_path / "buffer", domains=(0,))
    assert run_retrain(RetrainJob(str(tmp_path / "buffer"), str(tmp_path / "store")))["published"]
    buf = ReplayBuffer.load(tmp_path / "buffer")
    buf.add(cells(1, 80, seed=5))
    buf.save(tmp_path / "buffer")
    return tmp_path


def wait_for_stage(proc: LearnerProcess, stage: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while proc.status().stage != stage:
        assert proc.is_alive(), proc.status()
        assert time.monotonic() < deadline, proc.status()
        time.sleep(0.05)


def test_background_retrain_publishes_at_low_priority(robot_dir):
    status_path = robot_dir / "status.json"
    proc = LearnerProcess(RetrainJob(str(robot_dir / "buffer"), str(robot_dir / "store"),
                                     reason="button"), status_path)
    proc.start()
    st = proc.wait(120)
    assert st.state == "published" and st.progress == 1.0, st
    assert st.result["version"] == 2 and st.result["new_cells"] > 0
    assert st.result["niceness"] == min(os.nice(0) + 10, 19)
    assert st.pid == proc.pid  # the child's own final word, not one made up by the parent
    assert AdapterStore(robot_dir / "store").current_version() == 2


def long_job(robot_dir) -> RetrainJob:
    return RetrainJob(str(robot_dir / "buffer"), str(robot_dir / "store"),
                      train=TrainConfig(steps=10_000_000))


def test_cancel_stops_the_learner_and_publishes_nothing(robot_dir):
    status_path = robot_dir / "status.json"
    # a long grace: on a loaded machine the niced child may need more than the default 5 s to
    # reach its next cancel check, and this test is about the asked-for stop, not the kill
    proc = LearnerProcess(long_job(robot_dir), status_path,
                          LearnerProcessConfig(cancel_grace_s=60.0))
    proc.start()
    wait_for_stage(proc, "training")
    # a second retrain meanwhile (e.g. `gardenbot retrain`) is refused before it writes anything
    second = LearnerProcess(long_job(robot_dir), status_path)
    with pytest.raises(LearnerError, match="another retrain is already running"):
        second.start()
    assert second.pid is None and read_status(status_path).pid == proc.pid
    assert proc.status().state == "running"
    st = proc.cancel()
    assert st.state == "cancelled" and not proc.is_alive()
    assert "killed" not in st.message  # it stopped when asked; no kill was needed
    on_disk = read_status(status_path)  # written by the child itself
    assert on_disk.state == "cancelled" and on_disk.pid == proc.pid
    assert "killed" not in on_disk.message
    assert AdapterStore(robot_dir / "store").current_version() == 1


def test_a_learner_killed_after_cancel_leaves_a_final_status(robot_dir):
    status_path = robot_dir / "status.json"
    proc = LearnerProcess(long_job(robot_dir), status_path,
                          LearnerProcessConfig(cancel_grace_s=0.001))
    proc.start()
    wait_for_stage(proc, "training")
    st = proc.cancel()  # no time to stop politely: killed
    assert st.state == "cancelled" and not proc.is_alive()
    assert read_status(status_path).state == "cancelled"  # not a stale "running"
    assert AdapterStore(robot_dir / "store").current_version() == 1


def test_killed_mid_training_the_robot_stays_on_the_last_good_adapter(robot_dir):
    proc = LearnerProcess(long_job(robot_dir), robot_dir / "status.json")
    proc.start()
    wait_for_stage(proc, "training")
    proc.kill()  # as a power cut would
    st = proc.status()
    assert st.state == "failed" and "died" in st.message
    on_disk = read_status(robot_dir / "status.json")  # anyone reading the file learns it too
    assert on_disk.state == "failed" and "died" in on_disk.message
    store = AdapterStore(robot_dir / "store", backbone_sha256=SHA, feature_dim=DIM)
    assert store.current_version() == 1 and store.version_numbers() == [1]
    runner = AdapterRunner(robot_dir / "store", backbone_sha256=SHA, feature_dim=DIM)
    assert runner.version == 1
    # and the next retrain works as if nothing happened
    assert run_retrain(RetrainJob(str(robot_dir / "buffer"), str(robot_dir / "store"))
                       )["version"] == 2
