"""Retrain schedules: the phrases of ``[triggers] schedule`` and when they fire next.

Pure functions, torch-free; the config validates a phrase with :func:`parse_schedule` and
robot/learning/triggers.py fires a :class:`ScheduleTrigger` at :func:`next_fire_time`. One of::

    off
    nightly at 02:00        (same as "daily at 02:00")
    weekly on sun at 03:30  (mon tue wed thu fri sat sun)
    every 6 h               (also "every 30 min"; counted from the last fire)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    kind: str  # "off", "daily", "weekly", "interval"
    minute_of_day: int = 0
    weekday: int = 0  # 0 = Monday, for "weekly"
    interval_s: float = 0.0  # for "interval"


_AT = r"at\s+(\d{1,2}):(\d{2})"
_DAILY = re.compile(rf"^(?:nightly|daily)\s+{_AT}$")
_WEEKLY = re.compile(rf"^weekly\s+on\s+([a-z]+)\s+{_AT}$")
_EVERY = re.compile(r"^every\s+(\d+(?:\.\d+)?)\s*(h|hours?|min|minutes?)$")


def _minute_of_day(hh: str, mm: str, text: str) -> int:
    h, m = int(hh), int(mm)
    if h > 23 or m > 59:
        raise ValueError(f"bad time of day in schedule {text!r}")
    return h * 60 + m


def parse_schedule(text: str) -> Schedule:
    """Parse a schedule phrase; ValueError with the accepted forms if it is not one."""
    t = " ".join(text.strip().lower().split())
    if t in ("off", "never", ""):
        return Schedule("off")
    if m := _DAILY.match(t):
        return Schedule("daily", _minute_of_day(m[1], m[2], text))
    if m := _WEEKLY.match(t):
        day = m[1][:3]
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {m[1]!r} in schedule {text!r}")
        return Schedule("weekly", _minute_of_day(m[2], m[3], text), WEEKDAYS.index(day))
    if m := _EVERY.match(t):
        value = float(m[1])
        seconds = value * (3600 if m[2].startswith("h") else 60)
        if seconds < 60:
            raise ValueError(f"schedule {text!r} is more often than once a minute")
        return Schedule("interval", interval_s=seconds)
    raise ValueError(
        f"cannot read schedule {text!r}; use 'off', 'nightly at HH:MM', 'daily at HH:MM', "
        "'weekly on DAY at HH:MM' or 'every N h' / 'every N min'")


def next_fire_time(schedule: Schedule, after: datetime,
                   last_fired: datetime | None = None) -> datetime | None:
    """The first time strictly after ``after`` that the schedule fires (None if "off").

    Wall-clock: works with naive local times and with aware ones (the time of day is read in
    ``after``'s own time zone). An interval counts from ``last_fired`` (or from ``after``).
    """
    if schedule.kind == "off":
        return None
    if schedule.kind == "interval":
        base = last_fired or after
        step = timedelta(seconds=schedule.interval_s)
        t = base + step
        if t <= after:  # missed fires (robot was off) collapse into one, now-ish
            t = after + (step - (after - base) % step)
        return t
    h, m = divmod(schedule.minute_of_day, 60)
    day = after.replace(hour=h, minute=m, second=0, microsecond=0)
    for add_days in range(0, 9):
        t = day + timedelta(days=add_days)
        if t <= after:
            continue
        if schedule.kind == "weekly" and t.weekday() != schedule.weekday:
            continue
        return t
    raise AssertionError("unreachable: a weekly schedule fires within 8 days")
