"""What starts a retrain: a schedule, a GPIO button, a drift alarm (and the CLI).

Pure functions and small classes; the runtime owns the loop that asks them and starts the
learner process. Torch-free. The schedule phrases themselves ("nightly at 02:00" …) are read
by robot/learning/schedule.py.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from robot.learning.config import TriggerConfig
from robot.learning.schedule import Schedule, next_fire_time, parse_schedule

log = logging.getLogger(__name__)


class ScheduleTrigger:
    """Fires at the schedule's times, but only if enough new labelled cells came in and the
    ``gate`` (when given) has no reason to wait."""

    def __init__(self, schedule: Schedule | str, min_new_samples: int, now: datetime,
                 gate: ScheduleGate | None = None) -> None:
        self.schedule = parse_schedule(schedule) if isinstance(schedule, str) else schedule
        self.min_new_samples = min_new_samples
        self.next_time = next_fire_time(self.schedule, now)
        self.gate = gate
        self.skipped = ""  # why the last due time did not retrain ("" = it did, or none yet)

    def is_time(self, now: datetime) -> bool:
        """A scheduled time has come (cheap: the loop asks it before counting new cells)."""
        return self.next_time is not None and now >= self.next_time

    def due(self, now: datetime, new_samples: int, human_samples: int = 0) -> bool:
        """True when a retrain should start now. A due time that is skipped (too few new
        samples, or the gate waits) is logged, not postponed: the next chance is the next
        scheduled time. ``human_samples``: how many of the new cells a person labelled (owner
        answers, label maps): the gate never holds those back."""
        if not self.is_time(now):
            return False
        fired_at = self.next_time
        self.next_time = next_fire_time(self.schedule, now, last_fired=fired_at)
        wait = self.gate.night(human_samples) if self.gate is not None else ""
        if new_samples < self.min_new_samples:
            wait = f"{new_samples} new labelled cells, need {self.min_new_samples}"
        self.skipped = wait
        if wait:
            log.info("scheduled retrain skipped: %s", wait)
            return False
        return True


class ScheduleGate:
    """Whether a scheduled retrain should wait, from what the drift monitor saw.

    Two rules, both about not learning from the robot's own labels what may not last
    ([triggers] ``hold_unconfirmed``, ``settle_nights``); new cells a person labelled (owner
    answers, label maps) lift both:

    - a look the adapter finds new on one working day only may be one odd day (low sun,
      rain): while the monitor has novel sessions but fewer than ``drift_sessions`` in a row,
      the night waits. A second novel day raises the drift alarm, and the alarm retrains at
      once. Without the wait, the night's retrain learns the new look after its first day, the
      next day is no longer novel, and the alarm never tells a season from a day's weather.
    - with ``settle_nights`` > 0 the schedule retrains only on the first ``settle_nights``
      due times after a drift alarm (the new season settling in); otherwise the adapter stays
      as it is. Every retrain on the robot's own labels is a risk (measured: a stable season's
      nightly retrains swung false stops between 7 % and 71 % and once raised bumps, `gardenbot
      bench autonomy` in docs/benchmarks.md); 0 = every due time with enough new labels.

    Without a drift monitor (``[triggers] drift_novelty = 0``) neither rule applies: the
    schedule is then the only thing that retrains by itself.
    """

    def __init__(self, monitor: DriftMonitor | None, config: TriggerConfig) -> None:
        self.monitor = monitor
        self.config = config
        self._alarms_seen = 0
        self._nights_left = 0

    def night(self, human_samples: int = 0) -> str:
        """Called once per due time: "" when the retrain may run, else why it waits. Cells a
        person labelled are never held back: they are the owner's answer, not the weather."""
        m = self.monitor
        if m is not None and m.alarm_count != self._alarms_seen:
            self._alarms_seen = m.alarm_count
            self._nights_left = self.config.settle_nights
        settling = self._nights_left > 0
        self._nights_left = max(0, self._nights_left - 1)
        if human_samples > 0:
            return ""
        need = m.config.drift_sessions if m is not None else 0
        if m is not None and self.config.hold_unconfirmed and 0 < m.novel_sessions < need:
            return (f"the garden looked new in {m.novel_sessions} session(s), the drift alarm "
                    f"needs {need}: waiting to see whether it lasts")
        settle = self.config.settle_nights
        if m is not None and settle > 0 and not settling:
            return (f"no drift alarm in the last {settle} scheduled nights: the "
                    "adapter stays")
        return ""


class BumpAlarm:
    """Bumps mean the adapter misses obstacles it should see: ``count`` bumper closings outside
    probes within ``window`` frames of one adapter version raise the alarm, and the runtime
    retrains at once instead of waiting for the night — each bump has labelled the ground ahead
    of the bumper an obstacle (robot/learning/experience.py), and every further minute with this
    adapter risks more. Measured why: a season's first full day with the last season's adapter
    bumped 16 times in 26 m while the drift alarm still waited for its second novel day
    (`gardenbot bench autonomy`, docs/benchmarks.md). The count starts afresh after an alarm and
    whenever the adapter changes; ``count`` 0 = off."""

    def __init__(self, count: int, window: int) -> None:
        self.count, self.window = count, window
        self._version: int | None = None
        self._frame = 0
        self._bumps: deque[int] = deque()  # the frame of each bump, oldest first

    def update(self, version: int, bumps: int) -> bool:
        """One frame of ``version`` with ``bumps`` new bumper closings outside probes; True
        when they raise the alarm."""
        if version != self._version:
            self._version, self._frame = version, 0
            self._bumps.clear()
        self._frame += 1
        self._bumps.extend([self._frame] * bumps)
        while self._bumps and self._bumps[0] <= self._frame - self.window:
            self._bumps.popleft()
        if self.count <= 0 or len(self._bumps) < self.count:
            return False
        log.warning("bump alarm: %d bumps outside probes in the last %d frames of adapter "
                    "version %d", len(self._bumps), self.window, version)
        self._bumps.clear()
        return True


class RetrainButton:
    """A push button on a GPIO pin that requests a retrain (gpiozero ``Button``).

    ``pin_factory`` is gpiozero's: the real one on the robot, ``MockFactory`` in tests and in
    the desktop simulation. ``on_press`` runs in gpiozero's thread: keep it short (set a flag).
    """

    def __init__(self, pin: str | int, on_press: Callable[[], None], *,
                 bounce_s: float = 0.05, pin_factory: Any = None) -> None:
        from gpiozero import Button  # imported here: only robots with a button need it

        self.presses = 0
        self._on_press = on_press
        self._button = Button(pin, pull_up=True, bounce_time=bounce_s or None,
                              pin_factory=pin_factory)
        self._button.when_pressed = self._pressed

    def _pressed(self) -> None:
        self.presses += 1
        log.info("retrain button pressed")
        self._on_press()

    def close(self) -> None:
        """Release the pin (safe to call twice)."""
        self._button.close()

    def __enter__(self) -> RetrainButton:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class DriftAlarm:
    time_s: float
    action: str  # "retrain" (enough new labels) or "ask_labels" (none to learn from)
    novel_for_s: float  # driving seconds of the novel sessions that raised it
    novel_fraction: float  # share of novel cells in the latest frame
    sessions: int = 1  # novel sessions in a row that raised it
    session_share: float = 0.0  # share of novel frames in the latest session


@dataclass
class _Session:
    """One stretch of driving: frames with no gap longer than ``drift_gap_s`` between them."""

    last_s: float
    driven_s: float = 0.0  # sum of the frame-to-frame steps (gaps excluded)
    frames: int = 0
    novel: int = 0
    spent: bool = False  # its evidence raised an alarm already: it never counts again

    @property
    def share(self) -> float:
        return self.novel / self.frames if self.frames else 0.0


MIN_SESSION_FRAMES = 3  # a session with fewer frames says nothing about the garden


class DriftMonitor:
    """Raises an alarm when the garden stays unlike anything the adapter was trained on.

    Evidence is counted per **session** of driving, not over wall-clock time, because the robot
    sees its garden only while it works (a few minutes a day) and nothing overnight:

    - a cell is novel when the adapter's novelty exceeds ``drift_novelty``; a frame is novel
      when more than ``drift_fraction`` of its cells are;
    - a session is the frames with no gap longer than ``drift_gap_s`` between them (the robot
      docked), cut after ``drift_block_s`` of driving so a robot that never docks still gets
      a verdict now and then; it counts once it has ``drift_sustain_s`` of driving (and a
      few frames), and it is novel when at least ``drift_share`` of its frames are;
    - ``drift_sessions`` novel sessions in a row (the current one included once it counts) raise
      the alarm: retrain if at least ``min_new_samples`` labelled cells are waiting, otherwise
      ask for labels. A session that counts and is not novel breaks the row; one too short to
      count neither adds to it nor breaks it. Then quiet for ``drift_cooldown_s`` with the row
      cleared.

    One day's odd light or rain is one session, so with ``drift_sessions`` = 2 it cannot raise
    the alarm alone; a new season is every day. The defaults come from ``gardenbot bench
    drift`` (docs/learner.md). When a new adapter is published its novelty reference is new:
    call :meth:`reset` so that evidence gathered under the old adapter is forgotten.
    """

    def __init__(self, config: TriggerConfig) -> None:
        self.config = config
        self._row: list[_Session] = []  # closed novel sessions in a row, oldest first
        self._session: _Session | None = None
        self._quiet_until = float("-inf")
        self.alarm_count = 0  # alarms raised since this monitor was made (never reset)

    def reset(self) -> None:
        """Forget all evidence (call when a new adapter is published: its novelty is new)."""
        self._row = []
        self._session = None
        self._quiet_until = float("-inf")

    @property
    def novel_sessions(self) -> int:
        """Novel sessions in the current row, the open one included if it counts and is novel;
        0 while the open one counts and is not (it will break the row when it closes)."""
        s = self._session
        if s is None or not self._counts(s):
            return len(self._row)
        return len(self._row) + 1 if self._novel(s) else 0

    def _counts(self, s: _Session) -> bool:
        return (not s.spent and s.frames >= MIN_SESSION_FRAMES
                and s.driven_s >= self.config.drift_sustain_s)

    def _novel(self, s: _Session) -> bool:
        return s.share >= self.config.drift_share

    def _close(self) -> None:
        s = self._session
        self._session = None
        if s is None or not self._counts(s):
            return  # too short to say anything: neither adds to the row nor breaks it
        if self._novel(s):
            self._row = [*self._row, s][-self.config.drift_sessions:]
        else:
            self._row = []

    def update(self, time_s: float, novelty: np.ndarray, new_samples: int) -> DriftAlarm | None:
        cfg = self.config
        novelty = np.asarray(novelty)
        # NaN (no novelty computed) compares False: never novel
        fraction = float((novelty > cfg.drift_novelty).mean()) if novelty.size else 0.0
        s = self._session
        if s is not None and (time_s - s.last_s > cfg.drift_gap_s or time_s < s.last_s
                              or s.driven_s >= cfg.drift_block_s):
            self._close()  # docked (or the clock went back, or a long block is full)
            s = None
        if s is None:
            s = self._session = _Session(time_s)
        s.driven_s += time_s - s.last_s
        s.last_s = time_s
        s.frames += 1
        s.novel += fraction > cfg.drift_fraction
        if time_s < self._quiet_until or self.novel_sessions < cfg.drift_sessions:
            return None
        open_counts = self._counts(s) and self._novel(s)  # else the row filled while quiet
        row = [*self._row, *([s] if open_counts else [])][-cfg.drift_sessions:]
        held = sum(r.driven_s for r in row)
        self._row = []
        s.spent = open_counts  # evidence is used once: the rest of this session never counts
        self._quiet_until = time_s + cfg.drift_cooldown_s
        self.alarm_count += 1
        action = "retrain" if new_samples >= cfg.min_new_samples else "ask_labels"
        log.warning("drift alarm: %d sessions in a row novel (the latest %.0f%% of frames, "
                    "%.0f s of driving in all) -> %s", len(row), 100 * s.share, held, action)
        return DriftAlarm(time_s, action, held, fraction, len(row), s.share)
