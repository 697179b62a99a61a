"""The loop step that watches how each adapter drives, with no label: the trial of a newly
published adapter (robot/learning/trial.py) and the bump alarm (robot/learning/triggers.py).

Each tick it counts, for the adapter that made the frame's cells: the frame, whether the
camera policy's own decision drove forward (``tick.decision``), the metres the odometry moved
and the bumper's closings outside a probe (``tick.records``). When a trial ends with a verdict
against the new adapter, the store's pointer goes back to its parent — perception swaps at its
next pointer check, as after an owner's rollback — and the learner's drift evidence starts
afresh with it (robot/runtime/learning.py resets on any change of adapter). When the bump alarm
rings, ``on_bump_alarm`` asks the learner for a retrain.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from robot.adapter.store import AdapterStore
from robot.common.errors import GardenbotError
from robot.learning.config import LearnerSettings
from robot.learning.paths import LearnerPaths
from robot.learning.trial import Driving, TrialBook, Verdict
from robot.learning.triggers import BumpAlarm
from robot.runtime.learning import LearnerStep
from robot.runtime.loop import Tick

log = logging.getLogger(__name__)

SAVE_EVERY_FRAMES = 300  # the book is written this often (and at shutdown, and on a verdict)
MAX_ODOMETRY_STEP_M = 0.5  # a longer jump between records is a reset of the odometry, not travel
PROBE = "probe"  # what ``source_of`` answers for an event during a probe


class DrivingWatch:
    """Feeds the trial book and carries out its rollbacks; rings the bump alarm.
    ``source_of(t)``: "probe" when a bumper event at loop time ``t`` belongs to a probe (the
    policy step's prober)."""

    name = "watch"

    def __init__(self, book: TrialBook, store: AdapterStore,
                 source_of: Callable[[float], str] = lambda t: "",
                 bump_alarm: BumpAlarm | None = None,
                 on_bump_alarm: Callable[[], None] = lambda: None) -> None:
        self.book = book
        self.store = store
        self.source_of = source_of
        self.bump_alarm = bump_alarm
        self.on_bump_alarm = on_bump_alarm
        self.bump_alarms = 0
        self.verdicts: list[Verdict] = []
        self._last_xy: tuple[float, float] | None = None
        self._bumper = False
        self._since_save = 0

    def run(self, tick: Tick) -> None:
        seen = Driving()
        for rec in tick.records:
            xy = (float(rec["x_m"]), float(rec["y_m"]))
            if self._last_xy is not None:
                step = math.dist(xy, self._last_xy)
                seen.metres += step if step <= MAX_ODOMETRY_STEP_M else 0.0
            self._last_xy = xy
            closed = bool(rec.get("bumper"))
            if closed and not self._bumper and self.source_of(rec["t"]) != PROBE:
                seen.bumps += 1
            self._bumper = closed
        version = _version_number(tick.cells.adapter_version) if tick.cells is not None else None
        if version is None or tick.decision is None:
            return
        seen.frames = 1
        seen.stops = int(tick.decision.v_mps <= 0.0)
        if self.bump_alarm is not None and self.bump_alarm.update(version, seen.bumps):
            self.bump_alarms += 1
            self.on_bump_alarm()
        parent = None if version in self.book.records else self.store.parent_of(version)
        verdict = self.book.observe(version, parent, seen)
        self._since_save += 1
        if verdict is not None:
            self.verdicts.append(verdict)
            if verdict.rolled_back and verdict.parent is not None:
                self._roll_back(verdict)
        if verdict is not None or self._since_save >= SAVE_EVERY_FRAMES:
            self._save()

    def _roll_back(self, verdict: Verdict) -> None:
        # On the loop's thread (the dashboard's rollback uses a worker): at most once per
        # published adapter, a pointer write of a few milliseconds.
        assert verdict.parent is not None
        try:
            if self.store.current_version() == verdict.version:  # not replaced meanwhile
                self.store.rollback(verdict.parent)
        except GardenbotError as e:
            log.error("cannot roll adapter version %d back to %d: %s", verdict.version,
                      verdict.parent, e)

    def _save(self) -> None:
        self._since_save = 0
        try:
            self.book.save()
        except OSError as e:
            log.error("cannot save the adapters' trials to %s: %s", self.book.path, e)

    def summary(self) -> list[dict[str, Any]]:
        """The session's verdicts, for a summary or a day record."""
        return [{"version": v.version, "parent": v.parent, "rolled_back": v.rolled_back,
                 "reason": v.reason} for v in self.verdicts]

    def shutdown(self) -> None:
        self._save()


def _version_number(name: str) -> int | None:
    """"v12" -> 12; anything else (the oracle's cells) -> None."""
    digits = name[1:] if name.startswith("v") else name
    return int(digits) if digits.isdigit() else None


def driving_watch(paths: LearnerPaths, settings: LearnerSettings, store: AdapterStore,
                  learner: LearnerStep, source_of: Callable[[float], str]) -> DrivingWatch:
    """The watch as `gardenbot run` and `gardenbot simulate` put it in their loops: the trial
    book in the data folder, the configured bump alarm asking ``learner`` for a retrain."""
    trig = settings.triggers
    return DrivingWatch(TrialBook(paths.trials, settings.trial), store, source_of,
                        BumpAlarm(trig.bump_alarm, trig.bump_window),
                        lambda: learner.request_with_labels("bumps"))

