"""The loop's driving watch: a published adapter that stops everywhere its parent drove goes
back to the parent in the real adapter store, and perception's runner swaps back; bumps outside
probes ring the bump alarm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot.acting.policy import DriveCommand
from robot.adapter.runner import AdapterRunner
from robot.adapter.store import AdapterStore
from robot.common.samples import LabelledCells
from robot.learning.config import TrialConfig
from robot.learning.learner import LearnerState, train
from robot.learning.trial import TrialBook
from robot.learning.triggers import BumpAlarm
from robot.runtime.loop import Tick
from robot.runtime.watch import DrivingWatch
from robot.seeing.perception import CellMap
from tests.learner_fixtures import CLASSES, DIM, SHA, cells

GRID = (6, 10)
TRAIN = cells(0, 60, seed=1)
VAL = LabelledCells.concat([cells(0, 20, seed=21)])


@pytest.fixture(scope="module")
def two_adapters():
    s0 = LearnerState.initial(CLASSES, DIM, SHA)
    first, s1 = train("replay", s0, TRAIN, None, seed=0)
    second, s2 = train("replay", s1, TRAIN, None, seed=1)
    return (first, s1), (second, s2)


class Ticks:
    """Frames of one drive: the odometry advances while it drives; bumper closings on demand."""

    def __init__(self) -> None:
        self.i, self.x = 0, 0.0

    def __call__(self, version: int, drives: bool, bumper: bool = False) -> Tick:
        self.i += 1
        t = self.i * 0.1
        self.x += 0.03 if drives else 0.0
        cells = CellMap(np.zeros(GRID, np.uint8), np.ones(GRID, np.float32),
                        np.zeros(GRID, np.float32), CLASSES, t, f"v{version}")
        decision = DriveCommand(0.3 if drives else 0.0, 0.0, 500, "cruise" if drives else "stop",
                                "")
        rec = {"t": t, "x_m": self.x, "y_m": 0.0, "bumper": bumper}
        return Tick(self.i, t, cells=cells, decision=decision, records=[rec])


def test_a_new_adapter_that_stops_everywhere_goes_back_to_its_parent(tmp_path, two_adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*two_adapters[0], VAL, margin=1.0)
    runner = AdapterRunner(store.root, backbone_sha256=SHA, feature_dim=DIM, reload_check_s=0)
    book = TrialBook(tmp_path / "trials.json", TrialConfig(frames=100))
    step = DrivingWatch(book, store)
    ticks = Ticks()
    for _ in range(150):
        step.run(ticks(1, drives=True))
    store.publish(*two_adapters[1], VAL, margin=1.0)  # the night's retrain
    assert store.current_version() == 2
    for _ in range(100):
        step.run(ticks(2, drives=False))
    [verdict] = step.summary()
    assert verdict["rolled_back"] and verdict["parent"] == 1, verdict
    assert store.current_version() == 1
    assert runner.reload_if_changed() and runner.version == 1  # perception drives v1 again
    step.shutdown()
    assert "rolled back to version 1" in TrialBook(book.path, book.config).records[2].verdict


def test_bumps_during_a_probe_do_not_count_against_the_adapter(tmp_path, two_adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*two_adapters[0], VAL, margin=1.0)
    probing = {"on": False}
    step = DrivingWatch(TrialBook(tmp_path / "trials.json", TrialConfig(frames=100)), store,
                     lambda t: "probe" if probing["on"] else "experience")
    ticks = Ticks()
    for _ in range(120):
        step.run(ticks(1, drives=True))
    store.publish(*two_adapters[1], VAL, margin=1.0)
    for i in range(100):  # three bumper closings, all while probing
        probing["on"] = i % 30 < 3
        step.run(ticks(2, drives=True, bumper=i % 30 == 1))
    [verdict] = step.summary()
    assert not verdict["rolled_back"] and "0 bump(s)" in verdict["reason"]
    assert "3.0 m" in verdict["reason"]  # 100 frames at 3 cm: odometry metres are counted
    assert store.current_version() == 2


def test_the_same_bumps_outside_a_probe_send_it_back(tmp_path, two_adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*two_adapters[0], VAL, margin=1.0)
    step = DrivingWatch(TrialBook(tmp_path / "trials.json", TrialConfig(frames=100)), store)
    ticks = Ticks()
    for _ in range(120):
        step.run(ticks(1, drives=True))
    store.publish(*two_adapters[1], VAL, margin=1.0)
    for i in range(100):
        step.run(ticks(2, drives=True, bumper=i % 30 == 1))
    [verdict] = step.summary()
    assert verdict["rolled_back"] and "bumped more" in verdict["reason"]
    assert store.current_version() == 1


def test_an_adapter_replaced_before_its_verdict_is_not_rolled_back(tmp_path: Path,
                                                                   two_adapters) -> None:
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*two_adapters[0], VAL, margin=1.0)
    step = DrivingWatch(TrialBook(tmp_path / "trials.json", TrialConfig(frames=100)), store)
    ticks = Ticks()
    for _ in range(120):
        step.run(ticks(1, drives=True))
    store.publish(*two_adapters[1], VAL, margin=1.0)
    for _ in range(99):
        step.run(ticks(2, drives=False))
    store.publish(*two_adapters[0], VAL, margin=1.0)  # v3 published meanwhile
    step.run(ticks(2, drives=False))  # the last frame perception made with v2
    assert step.summary()[0]["rolled_back"] and store.current_version() == 3


def test_three_bumps_outside_probes_within_a_minute_ring_the_bump_alarm(tmp_path, two_adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*two_adapters[0], VAL, margin=1.0)
    rang: list[int] = []
    probing = {"on": False}
    watch = DrivingWatch(TrialBook(tmp_path / "trials.json", TrialConfig(frames=100)), store,
                         lambda t: "probe" if probing["on"] else "", BumpAlarm(3, 600),
                         lambda: rang.append(watch.bump_alarms))
    ticks = Ticks()
    for i in range(1000):  # bumps 300 frames apart: never three within 600 frames
        watch.run(ticks(1, drives=True, bumper=i % 300 == 5))
    assert rang == []
    probing["on"] = True
    for i in range(100):  # three while probing: a probe's bumps are its purpose
        watch.run(ticks(1, drives=True, bumper=i % 30 == 5))
    probing["on"] = False
    assert rang == []
    for i in range(10):  # the third outside probes within 600 frames
        watch.run(ticks(1, drives=True, bumper=i == 0))
    assert rang == [1]
    assert watch.bump_alarms == 1


def test_the_bump_alarm_counts_each_adapter_afresh() -> None:
    alarm = BumpAlarm(3, 600)
    assert not alarm.update(1, 2)
    assert not alarm.update(2, 1)  # a new adapter: v1's bumps say nothing about it
    assert not alarm.update(2, 1) and alarm.update(2, 1)
    assert not BumpAlarm(0, 600).update(1, 50)  # off
