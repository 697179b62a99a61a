"""The loop step that watches how each adapter drives, with no label: the trial of a newly
published adapter (robot/learning/trial.py) and the bump alarm (robot/learning/triggers.py).

Each tick it counts, for the adapter that made the frame's cells: the frame, the metres the
odometry moved and the bumper's closings outside a probe (``tick.records``). While an adapter
is on trial it also runs its parent in the shadow on the frame's features and asks the policy
(without its obstacle memory, the same for both) whether it would stop with either's cells.
When a trial ends with a verdict against the new adapter, the store's pointer goes back to its
parent — perception swaps at its next pointer check, as after an owner's rollback — and the
learner's drift evidence starts afresh with it (robot/runtime/learning.py resets on any change
of adapter). When the bump alarm rings, ``on_bump_alarm`` asks the learner for a retrain, and
the robot drives slowly (``slow``) until another adapter drives — the retrain published, or a
roll-back — or this one has driven ``clear_m`` without a bump: a retrain takes minutes, and
until it is in, the adapter that drives is the one that missed the obstacles. With ``hold``
(``[triggers] bump_hold``) it stands still while that retrain runs, and drives slowly after it
only if the retrain left the same adapter driving.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot.acting.config import PolicyConfig
from robot.acting.policy import GroundGrid, drive_command
from robot.adapter.exported import ExportedAdapter
from robot.adapter.store import AdapterStore
from robot.common.body import RobotConfig
from robot.common.errors import GardenbotError
from robot.learning.config import LearnerSettings
from robot.learning.paths import LearnerPaths
from robot.learning.trial import Driving, TrialBook, Verdict
from robot.learning.triggers import BumpAlarm
from robot.runtime.learning import LearnerStep
from robot.runtime.loop import Tick
from robot.seeing.perception import CellMap

log = logging.getLogger(__name__)

SAVE_EVERY_FRAMES = 300  # the book is written this often (and at shutdown, and on a verdict)
MAX_ODOMETRY_STEP_M = 0.5  # a longer jump between records is a reset of the odometry, not travel
PROBE = "probe"  # what ``source_of`` answers for an event during a probe


@dataclass
class Caution:
    """The slow driving after a bump alarm: which adapter it is for, and how far that adapter
    has driven since its last bump."""

    version: int
    clean_m: float = 0.0
    holding: bool = False  # standing still while the alarm's retrain runs


@dataclass(frozen=True)
class StopRule:
    """Whether the camera policy would stop (or turn on the spot) on a frame's cells: the
    policy's own rule without its obstacle memory, so that two adapters' cells of the same frame
    are judged alike."""

    ground: GroundGrid
    policy: PolicyConfig
    robot: RobotConfig

    def stops(self, cells: CellMap) -> bool:
        return drive_command(cells, self.ground, self.policy, self.robot).v_mps <= 0.0


class DrivingWatch:
    """Feeds the trial book, runs a new adapter's parent in the shadow and carries out the
    roll-backs; rings the bump alarm. ``source_of(t)``: "probe" when a bumper event at loop time
    ``t`` belongs to a probe (the policy step's prober)."""

    name = "watch"

    def __init__(self, book: TrialBook, store: AdapterStore, rule: StopRule,
                 source_of: Callable[[float], str] = lambda t: "",
                 bump_alarm: BumpAlarm | None = None,
                 on_bump_alarm: Callable[[], None] = lambda: None,
                 slow: Callable[[float | None], None] = lambda cap: None,
                 slow_mps: float = 0.0, clear_m: float = 30.0,
                 hold: Callable[[], bool] | None = None) -> None:
        self.book = book
        self.store = store
        self.rule = rule
        self.source_of = source_of
        self.bump_alarm = bump_alarm
        self.on_bump_alarm = on_bump_alarm
        self.bump_alarms = 0
        self.slow, self.slow_mps, self.clear_m = slow, slow_mps, clear_m
        self.hold = hold  # None: never hold; else whether the alarm's retrain is still on
        self.hold_frames = 0  # frames held still after bump alarms
        self.caution: Caution | None = None
        self.slow_m = 0.0  # metres driven slowly after bump alarms
        self.verdicts: list[Verdict] = []
        self._parents: dict[int, ExportedAdapter | str] = {}  # the adapter, or why none
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
        cells = tick.cells
        version = _version_number(cells.adapter_version) if cells is not None else None
        if cells is None or version is None or tick.decision is None:
            return
        seen.frames = 1
        if self.bump_alarm is not None and self.bump_alarm.update(version, seen.bumps):
            self.bump_alarms += 1
            self.on_bump_alarm()
            self._slow_down(version)
        elif self.caution is not None:
            self._watch_caution(version, seen)
        parent = None if version in self.book.records else self.store.parent_of(version)
        shadow_stopped, why_not = False, ""
        if self.book.on_trial(version, parent) and self.book.needs_shadow(version):
            seen.stops = int(self.rule.stops(cells))
            shadow = self._shadow(cells, self.book.records[version].parent)
            if isinstance(shadow, str):
                why_not = shadow
            else:
                shadow_stopped = self.rule.stops(shadow)
        else:
            seen.stops = int(tick.decision.v_mps <= 0.0)
        verdict = self.book.observe(version, seen, shadow_stopped, why_not)
        self._since_save += 1
        if verdict is not None:
            self.verdicts.append(verdict)
            if verdict.rolled_back and verdict.parent is not None:
                self._roll_back(verdict)
        if verdict is not None or self._since_save >= SAVE_EVERY_FRAMES:
            self._save()

    def _slow_down(self, version: int) -> None:
        holding = self.hold is not None and self.hold()
        if self.slow_mps <= 0 and not holding:
            return
        if holding:
            log.warning("holding still while the retrain the bump alarm asked for runs")
        elif self.caution is None:
            log.warning("driving at %.2f m/s at most until another adapter drives or version "
                        "%d has driven %.0f m without a bump", self.slow_mps, version,
                        self.clear_m)
        self.caution = Caution(version, holding=holding)
        self.slow(0.0 if holding else self.slow_mps)

    def _watch_caution(self, version: int, seen: Driving) -> None:
        assert self.caution is not None
        if version != self.caution.version:
            why = f"version {version} drives now"
        elif self.caution.holding:
            self.hold_frames += 1
            if self.hold is not None and self.hold():
                return
            self.caution.holding = False
            if self.slow_mps > 0:
                log.info("the retrain ended and version %d still drives: driving slowly",
                         version)
                self.slow(self.slow_mps)
                return
            why = "the retrain ended"
        else:
            self.slow_m += seen.metres
            self.caution.clean_m = 0.0 if seen.bumps else self.caution.clean_m + seen.metres
            if self.caution.clean_m < self.clear_m:
                return
            why = f"version {version} drove {self.caution.clean_m:.0f} m without a bump"
        log.info("full speed again: %s", why)
        self.caution = None
        self.slow(None)

    def _shadow(self, cells: CellMap, parent: int | None) -> CellMap | str:
        """The parent's cells of this frame, or why there are none."""
        if parent is None:
            return "no parent version"
        if cells.features is None:
            return "perception gave no features to run the parent on"
        adapter = self._parents.get(parent)
        if adapter is None:
            try:
                adapter = self.store.load(parent)[0]
            except GardenbotError as e:
                adapter = f"its parent, version {parent}, cannot run ({e})"
            self._parents = {parent: adapter}  # one trial at a time
        if isinstance(adapter, str):
            return adapter
        p = adapter.predict_grid(cells.features)
        return CellMap(p.classes.astype(np.uint8), p.confidence.astype(np.float32),
                       np.asarray(p.novelty, np.float32), cells.class_names, cells.t,
                       f"v{parent}", traversable_p=p.traversable)

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
                  learner: LearnerStep, policy: Any) -> DrivingWatch:
    """The watch as `gardenbot run` and `gardenbot simulate` put it in their loops: the trial
    book in the data folder, the policy step's rule and prober (``policy``: the loop's
    PolicyStep), the configured bump alarm asking ``learner`` for a retrain and setting the
    policy's speed cap."""
    trig = settings.triggers

    def slow(cap: float | None) -> None:
        policy.speed_cap = cap

    return DrivingWatch(TrialBook(paths.trials, settings.trial), store,
                        StopRule(policy.ground, policy.policy, policy.robot),
                        policy.prober.source_at, BumpAlarm(trig.bump_alarm, trig.bump_window),
                        lambda: learner.request_with_labels("bumps"), slow,
                        trig.bump_slow_mps, trig.bump_clear_m,
                        (lambda: learner.busy) if trig.bump_hold else None)

