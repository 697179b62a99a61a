"""The drift benchmark's bookkeeping on made-up novelty maps (the rendering is `--quick`'s)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from robot.learning.config import TriggerConfig
from tools.bench.drift import (
    FRACTION,
    NOVELTY,
    SESSIONS,
    GardenMaps,
    Year,
    choose,
    main,
    replay,
    summarise,
    sweep,
)

YEAR = Year(season_days=5, transition_days=2, days=22, views=6, frame_step_s=10.0, seed=0)


def made_up_garden(odd_days: tuple[int, ...] = ()) -> GardenMaps:
    """Adapter 0 (shipped) knows days < 9, adapter 1 days 9..13, adapter 2 the rest; each finds
    everything after its seasons novel. ``odd_days`` look novel to every adapter."""
    maps = np.full((3, YEAR.days, YEAR.views, 15, 20), 0.2, np.float16)
    for a, novel_from in enumerate((9, 14, 99)):
        maps[a, novel_from:] = 3.0
        for d in odd_days:
            maps[a, d] = 3.0
    return GardenMaps("g99", maps, {10: 1, 15: 2}, [10, 15], ["shipped", "autumn", "winter"],
                      0.0)


def test_changes_are_detected_with_their_delay_and_the_new_adapter_is_used_the_next_day():
    r = replay(made_up_garden(), YEAR, TriggerConfig(drift_sessions=2))
    assert r.detections == {10: 0, 15: 0}  # novel from the day before (in the window)
    assert r.false_days == [] and r.adapter[11] == 1 and r.adapter[16] == 2
    assert r.session_share[9] == 1.0 and r.session_share[8] == 0.0


def test_an_odd_day_is_a_false_alarm_for_one_session_but_not_for_two():
    garden = made_up_garden(odd_days=(2,))
    one = summarise([replay(garden, YEAR, TriggerConfig(drift_sessions=1))])
    two = summarise([replay(garden, YEAR, TriggerConfig(drift_sessions=2))])
    assert one["false_alarms"] == 1 and two["false_alarms"] == 0
    assert two["detected"] == two["changes"] == 2 and two["max_delay_days"] == 0


def test_a_change_never_seen_as_novel_is_a_miss():
    garden = made_up_garden()
    garden.maps[0] = 0.2  # the shipped adapter never finds anything novel
    s = summarise([replay(garden, YEAR, TriggerConfig())])
    assert s["missed"] == 1 and s["max_delay_days"] is None


def test_the_choice_prefers_no_false_alarm_and_more_sessions():
    rows = sweep([made_up_garden(odd_days=(2,))], YEAR, replace(TriggerConfig()))
    best = choose(rows)
    assert best is not None and best["false_alarms"] == 0 and best["drift_sessions"] >= 2
    assert best["max_delay_days"] <= 2


@pytest.mark.slow
def test_the_quick_run_renders_retrains_sweeps_and_writes_its_report(tmp_path):
    """`gardenbot bench drift --quick`, cut to 16 days (spring, summer, two days of autumn)."""
    status = main(["--quick", "--days", "16", "--out", str(tmp_path)])
    assert status in (0, 3)  # 3: a bar failed (too short a year to judge); never an error
    result = json.loads((tmp_path / "drift.json").read_text())
    assert result["changes"] == [7, 14]
    assert [g["required"] for g in result["gardens"]["report"]] == [[14]]
    assert len(result["sweep"]["report"]) == len(NOVELTY) * len(FRACTION) * len(SESSIONS)
    assert (tmp_path / "drift.md").read_text().startswith("# gardenbot bench drift")
    assert (tmp_path / "drift.png").stat().st_size > 0
