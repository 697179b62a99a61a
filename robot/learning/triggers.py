"""What starts a retrain: a schedule, a GPIO button, a drift alarm (and the CLI).

Pure functions and small classes; the runtime owns the loop that asks them and starts the
learner process. Torch-free. The schedule phrases themselves ("nightly at 02:00" …) are read
by robot/learning/schedule.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from robot.learning.config import TriggerConfig
from robot.learning.schedule import Schedule, next_fire_time, parse_schedule

log = logging.getLogger(__name__)


class ScheduleTrigger:
    """Fires at the schedule's times, but only if enough new labelled cells came in."""

    def __init__(self, schedule: Schedule | str, min_new_samples: int, now: datetime) -> None:
        self.schedule = parse_schedule(schedule) if isinstance(schedule, str) else schedule
        self.min_new_samples = min_new_samples
        self.next_time = next_fire_time(self.schedule, now)

    def due(self, now: datetime, new_samples: int) -> bool:
        """True when a retrain should start now. A due time with too few new samples is
        skipped (logged), not postponed: the next chance is the next scheduled time."""
        if self.next_time is None or now < self.next_time:
            return False
        fired_at = self.next_time
        self.next_time = next_fire_time(self.schedule, now, last_fired=fired_at)
        if new_samples < self.min_new_samples:
            log.info("scheduled retrain skipped: %d new labelled cells, need %d", new_samples,
                     self.min_new_samples)
            return False
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
    novel_for_s: float
    novel_fraction: float  # of the latest frame


class DriftMonitor:
    """Raises an alarm when the scene stays unlike anything the adapter was trained on.

    Each frame's novelty map (from the adapter graph) gives the share of cells with novelty
    above ``drift_novelty``; a frame is novel when that share exceeds ``drift_fraction``. Novel
    frames without a break of more than ``drift_sustain_s`` / 4 for ``drift_sustain_s`` raise
    the alarm: retrain if at least ``min_new_samples`` labelled cells are waiting, otherwise
    ask for labels. Then quiet for ``drift_cooldown_s``.
    """

    def __init__(self, config: TriggerConfig) -> None:
        self.config = config
        self._novel_since: float | None = None
        self._last_novel: float | None = None
        self._quiet_until = float("-inf")

    def update(self, time_s: float, novelty: np.ndarray, new_samples: int) -> DriftAlarm | None:
        cfg = self.config
        fraction = float((np.asarray(novelty) > cfg.drift_novelty).mean()) if novelty.size else 0
        novel = fraction > cfg.drift_fraction
        gap_ok = (self._last_novel is not None
                  and time_s - self._last_novel <= cfg.drift_sustain_s / 4)
        if novel:
            if self._novel_since is None or not gap_ok:
                self._novel_since = time_s
            self._last_novel = time_s
        elif not gap_ok:
            self._novel_since = None
        if (self._novel_since is None or time_s < self._quiet_until
                or time_s - self._novel_since < cfg.drift_sustain_s):
            return None
        held = time_s - self._novel_since
        self._novel_since, self._last_novel = None, None
        self._quiet_until = time_s + cfg.drift_cooldown_s
        action = "retrain" if new_samples >= cfg.min_new_samples else "ask_labels"
        log.warning("drift alarm: %.0f%% of cells novel for %.0f s -> %s", 100 * fraction, held,
                    action)
        return DriftAlarm(time_s, action, held, fraction)
