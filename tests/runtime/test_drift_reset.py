"""The loop's learner step forgets the drift evidence when perception swaps its adapter."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from robot.learning.config import (
    BufferConfig,
    LearnerProcessConfig,
    LearnerSettings,
    PublishConfig,
    TrainConfig,
    TriggerConfig,
)
from robot.learning.paths import LearnerPaths
from robot.learning.replay_buffer import ReplayBuffer
from robot.runtime.learning import LearnerStep, Memory
from robot.runtime.loop import Tick
from robot.seeing.perception import CellMap

GRID, DIM, SHA = (15, 20), 8, "ab" * 32


def tick(i: int, t: float, version: str) -> Tick:
    cells = CellMap(np.zeros(GRID, np.uint8), np.full(GRID, 0.9, np.float32),
                    np.full(GRID, 3.0, np.float32), DEFAULT_CLASSES, t, version)
    return Tick(i, t, cells=cells)


def test_a_new_adapter_version_resets_the_drift_evidence(tmp_path: Path) -> None:
    settings = LearnerSettings(BufferConfig(), TrainConfig(), PublishConfig(),
                               LearnerProcessConfig(), TriggerConfig(schedule="off"), True)
    step = LearnerStep(Memory(ReplayBuffer(DIM, SHA, DEFAULT_CLASSES), tmp_path / "b.gbrb"),
                       LearnerPaths(tmp_path), settings, backbone_sha256=SHA, feature_dim=DIM,
                       classes=DEFAULT_CLASSES, use_button=False, now=lambda: datetime(2026, 1, 1))
    assert step.drift is not None and step.drift.config.drift_sessions == 2
    for i in range(60):  # a novel working day under adapter v1: one session of evidence
        step.run(tick(i, 36_000.0 + i, "v1"))
    step.run(tick(60, 86_400 + 36_000.0, "v1"))  # the next day starts: the first day counts
    assert step.drift.novel_sessions == 1
    step.run(tick(61, 86_400 + 36_001.0, "v2"))  # published overnight
    assert step.drift.novel_sessions == 0 and not step.retrains


def test_the_night_after_one_novel_day_waits_instead_of_retraining(tmp_path: Path) -> None:
    """The robot's own schedule asks the same gate: one new-looking day is not learnt overnight
    (it may be the weather); the drift alarm retrains when a second day confirms it."""
    clock = [datetime(2026, 1, 1, 10)]
    settings = LearnerSettings(BufferConfig(), TrainConfig(), PublishConfig(),
                               LearnerProcessConfig(),
                               TriggerConfig(schedule="nightly at 02:00", min_new_samples=0),
                               True)
    step = LearnerStep(Memory(ReplayBuffer(DIM, SHA, DEFAULT_CLASSES), tmp_path / "b.gbrb"),
                       LearnerPaths(tmp_path), settings, backbone_sha256=SHA, feature_dim=DIM,
                       classes=DEFAULT_CLASSES, use_button=False, now=lambda: clock[0])
    for i in range(60):  # a novel working day
        step.run(tick(i, 36_000.0 + i, "v1"))
    clock[0] = datetime(2026, 1, 2, 2, 5)  # the night: the schedule is due
    step.run(tick(60, 36_060.0, "v1"))
    assert "waiting to see whether it lasts" in step.schedule.skipped
    assert not step.retrains


def test_the_bump_alarm_asks_for_a_retrain_only_with_enough_new_labels(tmp_path: Path,
                                                                     caplog) -> None:
    settings = LearnerSettings(BufferConfig(), TrainConfig(), PublishConfig(),
                               LearnerProcessConfig(),
                               TriggerConfig(schedule="off", min_new_samples=1), True)
    step = LearnerStep(Memory(ReplayBuffer(DIM, SHA, DEFAULT_CLASSES), tmp_path / "b.gbrb"),
                       LearnerPaths(tmp_path), settings, backbone_sha256=SHA, feature_dim=DIM,
                       classes=DEFAULT_CLASSES, use_button=False, now=lambda: datetime(2026, 1, 1))
    step.request_with_labels("bumps")
    assert "too few new labelled cells to retrain (0 < 1)" in caplog.text
    assert not step._requests  # nothing queued: the loop will not start a learner
    step.settings = LearnerSettings(BufferConfig(), TrainConfig(), PublishConfig(),
                                    LearnerProcessConfig(),
                                    TriggerConfig(schedule="off", min_new_samples=0), True)
    step.request_with_labels("bumps")
    assert list(step._requests) == ["bumps"]


def test_after_a_roll_back_the_cells_its_successor_learnt_are_new_again(tmp_path: Path) -> None:
    """The schedule, the drift and the bump alarms count new cells against the adapter that
    drives: rolled back to version 1, the cells version 2 was trained on are new again."""
    from robot.adapter.store import AdapterStore
    from robot.learning.learner import LearnerState, train
    from tests.learner_fixtures import cells

    data = cells(0, 20, seed=1, dim=DIM)
    adapter, state = train("replay", LearnerState.initial(DEFAULT_CLASSES, DIM, SHA), data,
                           None, seed=0)
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    for upto in (40, 90):
        store.publish(adapter, state.evolve(info={**state.info, "trained_upto_uid": upto}),
                      data, margin=1.0)
    buf = ReplayBuffer(DIM, SHA, DEFAULT_CLASSES)
    buf.add(cells(0, 30, seed=2, dim=DIM))  # uids 0..149
    settings = LearnerSettings(BufferConfig(), TrainConfig(), PublishConfig(),
                               LearnerProcessConfig(), TriggerConfig(schedule="off"), True)
    step = LearnerStep(Memory(buf, tmp_path / "b.gbrb", trained_upto_uid=90),
                       LearnerPaths(tmp_path), settings, backbone_sha256=SHA, feature_dim=DIM,
                       classes=DEFAULT_CLASSES, use_button=False, now=lambda: datetime(2026, 1, 1))
    step.run(tick(0, 36_000.0, "v2"))
    assert step.memory.new_cells == 59
    store.rollback(1)
    step.run(tick(1, 36_001.0, "v1"))  # perception swapped back
    assert step.memory.trained_upto_uid == 40 and step.memory.new_cells == 109
