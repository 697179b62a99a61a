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
from robot.learning.triggers import DriftMonitor, RetrainButton, ScheduleGate, ScheduleTrigger


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
    return DriftMonitor(TriggerConfig(**{"min_new_samples": 100, **kw}))


NOVEL, FAMILIAR = np.full((15, 20), 3.0), np.full((15, 20), 0.2)
DAY_S = 86_400.0


def light_of_the_day(rng: np.random.Generator, novel_share: float) -> np.ndarray:
    """A frame whose cells are novel in about ``novel_share`` (the day's light and weather)."""
    return np.where(rng.random((15, 20)) < novel_share, 3.0, 0.2)


def work_day(mon: DriftMonitor, day: int, frames, *, seconds: float = 120.0,
             new_samples: int = 500) -> list:
    """One working session on the simulated day clock: a frame a second from 10:00."""
    out = []
    for i, frame in enumerate(frames):
        t = day * DAY_S + 36_000 + i * seconds / len(frames)
        if (alarm := mon.update(t, frame, new_samples)) is not None:
            out.append(alarm)
    return out


def test_stable_days_with_varying_light_never_fire():
    """A year of stable days, each with its own light: most days a few novel cells, every third
    day an odd one (low sun, rain) on which nearly every frame looks novel. An odd day is one
    session, and the familiar day after it breaks the row: no alarm all year."""
    mon, rng = drift(), np.random.default_rng(0)
    cfg = mon.config
    assert cfg.drift_sessions >= 2  # the shipped setting: one odd day can never fire
    for day in range(365):
        share = 0.9 if day % 3 == 0 else rng.uniform(0.0, 0.6 * cfg.drift_fraction)
        frames = [light_of_the_day(rng, share) for _ in range(120)]
        assert work_day(mon, day, frames) == [], f"day {day}"


def test_a_new_season_fires_within_the_window_under_the_day_clock():
    mon = drift()
    for day in range(10):  # familiar days: nothing
        assert work_day(mon, day, [FAMILIAR] * 60, seconds=60) == []
    fired = {day: work_day(mon, day, [NOVEL] * 60, seconds=60) for day in range(10, 14)}
    k = mon.config.drift_sessions
    alarm_days = [d for d, a in fired.items() if a]
    assert alarm_days[0] == 10 + k - 1  # the k-th novel day: within 2 days of the change
    alarm = fired[alarm_days[0]][0]
    assert alarm.action == "retrain" and alarm.sessions == k
    assert alarm.novel_for_s < k * 60  # driving time, not the nights between
    assert alarm_days == [10 + k - 1, 10 + 2 * k - 1]  # no new adapter: again k days later


def test_nights_are_not_evidence_and_one_novel_day_is_not_enough():
    """The old monitor timed novelty by the clock; a night between two frames is no evidence."""
    mon = drift(drift_sessions=2)
    assert work_day(mon, 0, [NOVEL] * 100, seconds=100) == []
    assert work_day(mon, 1, [FAMILIAR] * 100, seconds=100) == []  # a familiar day breaks it
    assert work_day(mon, 2, [NOVEL] * 100, seconds=100) == []
    assert work_day(mon, 3, [NOVEL] * 100, seconds=100) != []


def test_a_session_too_short_to_count_neither_adds_nor_breaks():
    mon = drift(drift_sessions=2, drift_sustain_s=30)
    assert work_day(mon, 0, [NOVEL] * 40, seconds=60) == []
    assert work_day(mon, 1, [FAMILIAR] * 5, seconds=10) == []  # a 10 s outing: says nothing
    assert work_day(mon, 2, [NOVEL] * 40, seconds=60) != []


def test_publishing_a_new_adapter_resets_the_evidence():
    mon = drift(drift_sessions=2)
    assert work_day(mon, 0, [NOVEL] * 60, seconds=60) == []
    assert mon.novel_sessions == 1
    mon.reset()  # a new adapter: its novelty is measured against new training data
    assert mon.novel_sessions == 0
    assert work_day(mon, 1, [NOVEL] * 60, seconds=60) == []  # needs two days again
    assert work_day(mon, 2, [NOVEL] * 60, seconds=60) != []


def test_a_robot_that_never_docks_still_gets_a_verdict():
    mon = drift(drift_sessions=2, drift_block_s=600, drift_gap_s=1800)
    fired = [t for t in range(0, 3000) if mon.update(float(t), NOVEL, 500)]
    assert fired and fired[0] < 1300  # two blocks of 10 minutes


def test_novel_days_during_the_cooldown_raise_the_alarm_when_it_ends():
    mon = drift(drift_sessions=2, drift_cooldown_s=2 * DAY_S)
    assert [a.time_s // DAY_S for d in range(7)
            for a in work_day(mon, d, [NOVEL] * 60, seconds=60)] == [1, 3, 5]


def test_without_new_labels_the_alarm_asks_for_labels():
    mon = drift(drift_sessions=1)
    fired = work_day(mon, 0, [NOVEL] * 60, new_samples=3)
    assert fired[0].action == "ask_labels"


def test_partly_novel_frames_or_sessions_do_not_fire():
    mon = drift(drift_sessions=1)
    partly = NOVEL.copy()
    partly[:14] = 0.2  # only 7 % of cells novel
    assert work_day(mon, 0, [partly] * 60) == []
    half = [NOVEL if i % 3 == 0 else FAMILIAR for i in range(60)]  # a third of the frames
    assert work_day(mon, 1, half) == []
    nan = np.full((15, 20), np.nan)  # no novelty computed: never novel
    assert work_day(mon, 2, [nan] * 60) == []


def nightly(mon: DriftMonitor) -> ScheduleTrigger:
    """The schedule at 02:00 with the gate on ``mon``, starting on day 0 of the day clock."""
    return ScheduleTrigger("nightly at 02:00", 100, EPOCH, ScheduleGate(mon, mon.config))


EPOCH = datetime(2027, 3, 1)


def night_after(trig: ScheduleTrigger, day: int) -> bool:
    return trig.due(EPOCH + timedelta(days=day + 1, hours=2), new_samples=500)


def test_one_novel_day_is_not_learnt_overnight_and_the_second_raises_the_alarm():
    """A day that looks new may be one day's weather: its night waits. If the next day is new
    too, the alarm fires during it (and retrains at once); if familiar, the nights go on."""
    mon = drift(settle_nights=0)  # every night, but for the wait
    trig = nightly(mon)
    assert work_day(mon, 0, [FAMILIAR] * 60, seconds=60) == []
    assert night_after(trig, 0)
    assert work_day(mon, 1, [NOVEL] * 60, seconds=60) == []
    assert not night_after(trig, 1)
    assert "waiting to see whether it lasts" in trig.skipped
    assert work_day(mon, 2, [FAMILIAR] * 60, seconds=60) == []  # it was the weather
    assert night_after(trig, 2) and trig.skipped == ""
    assert work_day(mon, 3, [NOVEL] * 60, seconds=60) == []
    assert not night_after(trig, 3)
    assert work_day(mon, 4, [NOVEL] * 60, seconds=60) != []  # a season: the alarm
    assert night_after(trig, 4)  # the evidence is spent: nothing left to wait for


def test_settle_nights_retrain_only_after_an_alarm():
    mon = DriftMonitor(TriggerConfig(min_new_samples=100, settle_nights=2))
    trig = nightly(mon)
    for day in range(3):  # a known garden: the adapter stays
        assert work_day(mon, day, [FAMILIAR] * 60, seconds=60) == []
        assert not night_after(trig, day)
    assert "no drift alarm in the last 2 scheduled nights" in trig.skipped
    work_day(mon, 3, [NOVEL] * 60, seconds=60)
    assert work_day(mon, 4, [NOVEL] * 60, seconds=60) != []
    mon.reset()  # the alarm's retrain published a new adapter
    nights = []
    for day in range(4, 8):
        if day > 4:
            work_day(mon, day, [FAMILIAR] * 60, seconds=60)
        nights.append(night_after(trig, day))
    assert nights == [True, True, False, False]  # the season settles in over two nights


def test_without_a_drift_alarm_the_schedule_retrains_every_night():
    trig = ScheduleTrigger("nightly at 02:00", 100, EPOCH,
                           ScheduleGate(None, TriggerConfig(settle_nights=3)))
    assert all(night_after(trig, day) for day in range(5))


def test_the_owners_answers_are_learnt_the_same_night():
    mon = DriftMonitor(TriggerConfig(min_new_samples=100, settle_nights=2))
    trig = nightly(mon)
    work_day(mon, 0, [NOVEL] * 60, seconds=60)  # unconfirmed, and no alarm to settle after
    assert trig.due(EPOCH + timedelta(days=1, hours=2), new_samples=500, human_samples=40)


def test_too_few_new_labels_still_skip_a_gated_night():
    mon = drift()
    trig = nightly(mon)
    assert not trig.due(EPOCH + timedelta(days=1, hours=2), new_samples=3)
    assert trig.skipped == "3 new labelled cells, need 100"


@pytest.mark.parametrize("field, value, message", [
    ("settle_nights", -1, "settle_nights: must be a whole number >= 0"),
    ("settle_nights", 1.5, "settle_nights: must be a whole number >= 0"),
    ("drift_sessions", -1, "drift_sessions: must be a whole number >= 1"),
    ("drift_sessions", 0, "drift_sessions: must be a whole number >= 1"),
    ("drift_fraction", 1.5, r"drift_fraction: must be in \[0, 1\)"),
    ("drift_fraction", -0.1, r"drift_fraction: must be in \[0, 1\)"),
    ("drift_share", 0.0, r"drift_share: must be in \(0, 1\]"),
    ("drift_share", 2.0, r"drift_share: must be in \(0, 1\]"),
    ("drift_sustain_s", -5.0, "drift_sustain_s: must be >= 0 seconds"),
    ("drift_gap_s", 0.0, "drift_gap_s: must be > 0 seconds"),
    ("drift_block_s", -1.0, "drift_block_s: must be > 0 seconds"),
    ("drift_novelty", 0.0, "drift_novelty: must be > 0"),
])
def test_bad_drift_settings_are_clear_errors(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TriggerConfig(**{field: value})


def test_config_is_validated_on_construction():
    with pytest.raises(ConfigError, match="strategy: unknown 'magic'"):
        TrainConfig(strategy="magic")
    with pytest.raises(ConfigError, match="capacity_bytes"):
        BufferConfig(capacity_bytes=10)
    with pytest.raises(ConfigError, match="margin"):
        PublishConfig(margin=-0.1)
    with pytest.raises(ConfigError, match="schedule: cannot read schedule 'at noon'"):
        TriggerConfig(schedule="at noon")

