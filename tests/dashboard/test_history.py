"""The learning page's plots: bounded however long the robot runs or a tab stays open."""

from __future__ import annotations

import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from robot.dashboard.history import History
from robot.dashboard.snapshot import Snapshot
from robot.seeing.perception import CellMap


def _snap(tick: int, reason: str, accuracy: float | None = None,
          truth: np.ndarray | None = None) -> Snapshot:
    cells = CellMap(np.zeros((2, 2), np.uint8), np.ones((2, 2), np.float32),
                    np.array([[0.5, 2.0], [0.5, 0.5]], np.float32), DEFAULT_CLASSES, 0.0, "v1")
    return Snapshot(tick, 0.0, None, cells, truth, accuracy, "summer", "v1", 30.0, reason, "",
                    0.0, 0.0, False, {}, None, (), {}, {}, {}, 0, DEFAULT_CLASSES,
                    judged=None if truth is None else (tick, truth, reason))


def test_a_day_of_samples_keeps_one_bin_a_minute_and_no_more_than_a_day():
    h = History(bin_s=60, max_bins=24 * 60)
    for s in range(2 * 24 * 3600):  # two days at one sample a second
        h.sample(_snap(s, "cruise"), 1_000_020.0 + s)  # starts on a minute
    assert len(h.bins) == 24 * 60
    assert all(b.samples == 60 for b in list(h.bins)[:-1])  # the last minute is still going


def test_bins_hold_accuracy_drift_stops_and_false_stops():
    truth = np.zeros((2, 2), np.uint8)
    h = History(bin_s=60, oracle_stops=lambda t, names: False)  # the oracle would drive
    h.sample(_snap(1, "stop_blocked", 0.5, truth), 0.0)
    h.sample(_snap(1, "stop_blocked", 0.5, truth), 1.0)  # the same tick again: not counted
    h.sample(_snap(2, "cruise", 1.0, truth), 2.0)
    h.sample(_snap(3, "stop_owner", None), 3.0)  # the owner's stop is not a policy stop
    (b,) = h.as_json()
    assert b["accuracy"] == 0.75 and b["novelty"] == 0.25
    assert b["stop_share"] == 1 / 3 and b["false_stop_share"] == 0.5
