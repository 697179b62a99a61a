from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from robot.common.errors import ConfigError
from robot.learning.config import (
    BufferConfig,
    PublishConfig,
    TrainConfig,
    TriggerConfig,
)
from robot.learning.schedule import Schedule, next_fire_time, parse_schedule
from robot.learning.triggers import DriftMonitor, RetrainButton, ScheduleTrigger


@pytest.mark.parametrize("text, expected", [
    ("nightly at 02:00", Schedule("daily", 120)),
    ("Daily  at 23:59", Schedule("daily", 23 * 60 + 59)),
    ("weekly on sun at 03:30", Schedule("weekly", 210, 6)),
    ("weekly on Monday at 0:05", Schedule("weekly", 5, 0)),
    ("every 6 h", Schedule("interval", interval_s=21600)),
    ("every 30 min", Schedule("interval", interval_s=1800)),
    ("off", Schedule("off")),
])
def test_schedule_phrases(text, expected):
    assert parse_schedule(text) == expected


@pytest.mark.parametrize("text", ["nightly at 25:00", "nightly at 2", "weekly on funday at 1:00",
                                  "every 10 s", "sometimes", "every 0.5 min"])
def test_bad_schedules_are_errors(text):
    with pytest.raises(ValueError):
        parse_schedule(text)


def test_next_fire_time_daily_and_weekly():
    nightly = parse_schedule("nightly at 02:00")
    assert next_fire_time(nightly, datetime(2025, 5, 1, 1, 0)) == datetime(2025, 5, 1, 2, 0)
    assert next_fire_time(nightly, datetime(2025, 5, 1, 2, 0)) == datetime(2025, 5, 2, 2, 0)
    assert next_fire_time(nightly, datetime(2025, 12, 31, 22, 0)) == datetime(2026, 1, 1, 2, 0)
    weekly = parse_schedule("weekly on sun at 03:30")  # 2025-05-01 is a Thursday
    assert next_fire_time(weekly, datetime(2025, 5, 1, 12, 0)) == datetime(2025, 5, 4, 3, 30)
    assert next_fire_time(weekly, datetime(2025, 5, 4, 3, 30)) == datetime(2025, 5, 11, 3, 30)
    assert next_fire_time(parse_schedule("off"), datetime(2025, 5, 1)) is None


def test_next_fire_time_keeps_wall_clock_time_across_daylight_saving():
    tz = ZoneInfo("Europe/Berlin")  # clocks went forward on 2025-03-30
    t = next_fire_time(parse_schedule("nightly at 04:00"), datetime(2025, 3, 29, 5, 0, tzinfo=tz))
    assert (t.hour, t.day) == (4, 30)


def test_interval_counts_from_the_last_fire_and_collapses_missed_ones():
    every = parse_schedule("every 6 h")
    t0 = datetime(2025, 5, 1, 0, 0)
    assert next_fire_time(every, t0 + timedelta(hours=1), last_fired=t0) == t0 + timedelta(
        hours=6)
    # the robot was off for two days: one fire soon, on the grid, not eight in a row
    late = next_fire_time(every, t0 + timedelta(days=2, hours=1), last_fired=t0)
    assert late == t0 + timedelta(days=2, hours=6)


def test_schedule_trigger_fires_only_with_enough_new_samples():
    trig = ScheduleTrigger("nightly at 02:00", min_new_samples=500, now=datetime(2025, 5, 1, 12))
    assert not trig.due(datetime(2025, 5, 1, 23), new_samples=10_000)  # not yet
    assert not trig.due(datetime(2025, 5, 2, 2, 1), new_samples=20)  # due, too few: skipped
    assert trig.next_time == datetime(2025, 5, 3, 2, 0)
    assert trig.due(datetime(2025, 5, 3, 2, 0), new_samples=800)
    assert not trig.due(datetime(2025, 5, 3, 2, 5), new_samples=800)  # once per night


def test_button_press_requests_a_retrain():
    factory = MockFactory()
    requests = []
    with RetrainButton("GPIO17", lambda: requests.append("retrain"), bounce_s=0,
                       pin_factory=factory) as button:
        pin = factory.pin(17)
        pin.drive_low()  # pressed (pull-up: pressed pulls the pin low)
        pin.drive_high()
        pin.drive_low()
        pin.drive_high()
        assert requests == ["retrain", "retrain"] and button.presses == 2
    button.close()  # closing twice is fine


def drift(**kw) -> DriftMonitor:
    return DriftMonitor(TriggerConfig(drift_sustain_s=60, drift_cooldown_s=600,
                                      min_new_samples=100, **kw))


NOVEL, FAMILIAR = np.full((15, 20), 3.0), np.full((15, 20), 0.2)


def test_sustained_novelty_raises_the_alarm_once_then_cools_down():
    mon = drift()
    alarms = [mon.update(t, NOVEL, new_samples=500) for t in range(0, 200)]
    fired = [a for a in alarms if a is not None]
    assert len(fired) == 1 and fired[0].time_s == 60 and fired[0].action == "retrain"
    assert mon.update(700, NOVEL, 500) is None  # novelty must be sustained again after cooldown


def test_without_new_labels_the_alarm_asks_for_labels():
    mon = drift()
    fired = [a for t in range(100) if (a := mon.update(t, NOVEL, new_samples=3))]
    assert fired[0].action == "ask_labels"


def test_brief_or_interrupted_novelty_does_not_raise_the_alarm():
    mon = drift()
    for t in range(0, 300):
        frame = NOVEL if (t // 30) % 2 == 0 else FAMILIAR  # 30 s novel, 30 s familiar
        assert mon.update(t, frame, 500) is None
    partly = NOVEL.copy()
    partly[:12] = 0.2  # only 20 % of cells novel
    assert all(mon.update(300 + t, partly, 500) is None for t in range(120))


def test_config_is_validated_on_construction():
    with pytest.raises(ConfigError, match="strategy: unknown 'magic'"):
        TrainConfig(strategy="magic")
    with pytest.raises(ConfigError, match="capacity_bytes"):
        BufferConfig(capacity_bytes=10)
    with pytest.raises(ConfigError, match="margin"):
        PublishConfig(margin=-0.1)
    with pytest.raises(ConfigError, match="schedule: cannot read schedule 'at noon'"):
        TriggerConfig(schedule="at noon")

