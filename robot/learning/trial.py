"""A newly published adapter drives on trial, and goes back to its parent if it drives worse.

The publish check (robot/adapter/store.py) judges a candidate on held-out cells the robot
labelled itself; in a garden whose own labels are poor it passes adapters that then stop
everywhere or bump (measured: `gardenbot bench autonomy`, docs/benchmarks.md). What the robot
does measure without any label is how it drives. So for its first ``[learner] trial_frames``
camera frames, and for its first :data:`REFERENCE_M` metres, a new adapter is on trial, and it
goes back to the adapter it replaced (its parent) when

- over its first :data:`REFERENCE_M` metres it bumped at least ``min_bumps`` times, and more
  than ``bump_margin`` times per 100 m more often than the adapters it replaced did over their
  last :data:`REFERENCE_M` metres — the parent's, and before those the grandparent's when the
  parent drove less (a retrain must never raise collisions; judged at the bump that makes it
  so), or
- on the same frames, the policy stopped (or turned on the spot) on a share ``stop_margin``
  larger with the new adapter's cells than it would have with the parent's — the parent runs
  in the shadow on each trial frame's features — while the parent bumped no more often than
  the new one (within ``bump_margin``): a robot that stands still gathers no labels to learn
  its way out, and nothing else would ever replace that adapter.

Stops are compared on the same frames because nothing else is comparable: the same adapter
stopped on 2–43 % of the open frames from one day's weather to the next, and a working day
starts on the open lawn at the dock and often ends boxed in at a fence. Metres, not frames,
measure the bump rate, for the same reason. Bumps during a probe do not count: a probe is a
deliberate test of ground with the bumper as its safety. A new adapter whose parent cannot run
in the shadow (its version was pruned) stays, and the record says so.

:class:`TrialBook` keeps each version's recent driving, trial and verdict in one small JSON
file, so a trial runs on across the robot's working days (restarts). Torch-free; the loop step
that feeds it, runs the shadow and rolls back is robot/runtime/watch.py (``DrivingWatch``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robot.common.atomic import atomic_write_json
from robot.learning.config import TrialConfig

log = logging.getLogger(__name__)

BOOK_FORMAT = "gardenbot-trials/2"
REFERENCE_M = 30.0  # a parent's bump rate is taken over its last this many metres of driving
BLOCK_M = 5.0  # recent driving is kept in blocks of at least this many metres
KEEP_VERSIONS = 50  # the book forgets the oldest versions beyond this many


@dataclass
class Driving:
    """What an adapter did while it drove, as the robot counts it without any label."""

    frames: int = 0
    stops: int = 0  # frames its policy did not drive forward on
    metres: float = 0.0  # by odometry
    bumps: int = 0  # bumper closings outside a probe

    def add(self, other: Driving) -> None:
        self.frames += other.frames
        self.stops += other.stops
        self.metres += other.metres
        self.bumps += other.bumps

    @property
    def stop_share(self) -> float:
        return self.stops / self.frames if self.frames else 0.0

    @property
    def bumps_per_100m(self) -> float:
        if self.bumps == 0:
            return 0.0
        return 100.0 * self.bumps / self.metres if self.metres > 0 else math.inf

    def to_list(self) -> list[float]:
        return [self.frames, self.stops, round(self.metres, 3), self.bumps]

    @classmethod
    def from_list(cls, v: Any) -> Driving:
        frames, stops, metres, bumps = v
        return cls(int(frames), int(stops), float(metres), int(bumps))

    def bump_text(self) -> str:
        return f"{self.bumps} bump(s) in {self.metres:.1f} m"


def judge(trial: Driving, shadow_stops: int, parent: Driving, cfg: TrialConfig) -> str:
    """Why the adapter on trial goes back to its parent; "" when it stays. ``trial``: its
    trial; ``shadow_stops``: on how many of the same frames the parent would have stopped;
    ``parent``: the parent's own recent driving (its bump rate)."""
    return bumped_more(trial, parent, cfg) or stopped_more(trial, shadow_stops, parent, cfg)


def bumped_more(trial: Driving, parent: Driving, cfg: TrialConfig,
                name: str = "its parent") -> str:
    """Why ``trial`` bumped too often against ``parent`` (the driving of the version ``name``
    says); "" when it did not."""
    if trial.bumps >= cfg.min_bumps and \
            trial.bumps_per_100m > parent.bumps_per_100m + cfg.bump_margin:
        return (f"it bumped more: {trial.bump_text()} on trial, {name} "
                f"{parent.bump_text()} before")
    return ""


def stopped_more(trial: Driving, shadow_stops: int, parent: Driving, cfg: TrialConfig) -> str:
    shadow = shadow_stops / trial.frames if trial.frames else 0.0
    if (trial.stop_share > shadow + cfg.stop_margin
            and parent.bumps_per_100m <= trial.bumps_per_100m + cfg.bump_margin):
        return (f"it stopped more: on {trial.frames} frames it stopped on "
                f"{trial.stop_share:.0%}, its parent would have on {shadow:.0%}")
    return ""


@dataclass
class Record:
    """One version in the book: its parent, its recent driving, its trial and verdict."""

    parent: int | None
    recent: list[Driving] = field(default_factory=list)  # blocks of >= BLOCK_M, oldest first
    trial: Driving | None = None  # its first `frames` frames on trial: where it stopped
    shadow_stops: int = 0  # of those frames, how many the parent would have stopped on
    road: Driving | None = None  # its first REFERENCE_M metres on trial: how often it bumped
    verdict: str = ""  # "" while on trial or never tried

    def recent_driving(self) -> Driving:
        """Its last REFERENCE_M metres of driving (all there is if fewer)."""
        total = Driving()
        for block in reversed(self.recent):
            if total.metres >= REFERENCE_M:
                break
            total.add(block)
        return total

    def add_recent(self, seen: Driving) -> None:
        if not self.recent or self.recent[-1].metres >= BLOCK_M:
            self.recent.append(Driving())
        self.recent[-1].add(seen)
        keep = math.ceil(REFERENCE_M / BLOCK_M) + 1
        del self.recent[:-keep]

    def to_json(self) -> dict[str, Any]:
        return {"parent": self.parent, "recent": [b.to_list() for b in self.recent],
                "trial": self.trial.to_list() if self.trial is not None else None,
                "shadow_stops": self.shadow_stops,
                "road": self.road.to_list() if self.road is not None else None,
                "verdict": self.verdict}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Record:
        parent, trial, road = d.get("parent"), d.get("trial"), d.get("road")
        return cls(int(parent) if parent is not None else None,
                   [Driving.from_list(b) for b in d.get("recent", [])],
                   Driving.from_list(trial) if trial is not None else None,
                   int(d.get("shadow_stops", 0)),
                   Driving.from_list(road) if road is not None
                   else Driving() if trial is not None else None,
                   str(d.get("verdict", "")))


@dataclass(frozen=True)
class Verdict:
    version: int
    parent: int | None
    rolled_back: bool
    reason: str


class TrialBook:
    """Each adapter version's recent driving and its trial, kept in a JSON file.

    A version goes on trial when it first drives, if it is newer than every version the book
    knows and has a parent. A damaged file is moved aside (``.corrupt``) with a warning and the
    book starts empty: it holds statistics, never anything the robot cannot do without.
    """

    def __init__(self, path: Path, config: TrialConfig) -> None:
        self.path = Path(path)
        self.config = config
        self.records: dict[int, Record] = self._load()

    def _load(self) -> dict[int, Record]:
        try:
            return _read(self.path)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            aside = self.path.with_name(self.path.name + ".corrupt")
            log.warning("%s is damaged (%s); moved to %s, the adapters' trials start afresh",
                        self.path, e, aside.name)
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            return {}

    def save(self) -> None:
        keep = sorted(self.records)[-KEEP_VERSIONS:]
        atomic_write_json(self.path, {"format": BOOK_FORMAT, "versions": {
            str(v): self.records[v].to_json() for v in keep}})

    def on_trial(self, version: int, parent: int | None = None) -> bool:
        """Whether ``version`` is on trial now. A version the book has not seen yet goes on
        trial here if it is newer than all it knows and has a ``parent`` (its store meta)."""
        rec = self.records.get(version)
        if rec is None:
            rec = self._new(version, parent)
        return rec.trial is not None and not rec.verdict

    def needs_shadow(self, version: int) -> bool:
        """Whether ``version``'s next frame is one of its trial's first ``frames``: the ones
        its parent runs in the shadow on."""
        rec = self.records.get(version)
        return (rec is not None and rec.trial is not None and not rec.verdict
                and rec.trial.frames < self.config.frames)

    def observe(self, version: int, seen: Driving, shadow_stopped: bool = False,
                cannot_compare: str = "") -> Verdict | None:
        """Count ``seen`` (one frame's driving) for ``version``; the verdict when this frame
        decides its trial. On the trial's first ``frames`` frames ``seen.stops`` and
        ``shadow_stopped`` are the policy's decisions with its cells and with its parent's, and
        ``cannot_compare`` says why the parent could not run in the shadow ("" = it ran).

        Stops are judged once, at the end of those frames; bumps at each bump, over the trial's
        first REFERENCE_M metres — the same distance the parent's rate is taken over (a minute
        of driving is too short to show a bump rate). The trial ends, kept, when both are done.
        """
        rec = self.records.get(version)
        if rec is None:
            rec = self._new(version, None)
        rec.add_recent(seen)
        if rec.trial is None or rec.road is None or rec.verdict:
            return None
        window = rec.trial.frames < self.config.frames
        if window and cannot_compare:
            rec.verdict = f"kept without a verdict: {cannot_compare}"
            log.warning("adapter version %d %s", version, rec.verdict)
            return Verdict(version, rec.parent, False, rec.verdict)
        if window:
            rec.trial.add(seen)
            rec.shadow_stops += int(shadow_stopped)
        road = rec.road.metres < REFERENCE_M
        if road:
            rec.road.add(Driving(seen.frames, 0, seen.metres, seen.bumps))
        parent, versions = self._reference(rec)
        name = "its parent" if versions <= 1 else f"its parent and the {versions - 1} " \
            f"version(s) before it"
        why = bumped_more(rec.road, parent, self.config, name) if road and seen.bumps else ""
        if not why and window and rec.trial.frames >= self.config.frames:
            why = stopped_more(rec.trial, rec.shadow_stops, parent, self.config)
        if why:
            # Always to the parent, never past it: the three trials that went back to an
            # earlier ancestor (2026-12-04) each woke up the next day with an adapter of the
            # season before (false stops 50-99 %). A parent still on its own trial goes back
            # one step further if it bumps in turn.
            rec.verdict = f"rolled back to version {rec.parent}: {why}"
            log.warning("adapter version %d on trial: %s", version, rec.verdict)
            return Verdict(version, rec.parent, True, rec.verdict)
        if rec.trial.frames < self.config.frames or rec.road.metres < REFERENCE_M:
            return None
        shadow = rec.shadow_stops / rec.trial.frames
        rec.verdict = (f"kept: on {rec.trial.frames} frames it stopped on "
                       f"{rec.trial.stop_share:.0%} (its parent would have on {shadow:.0%}); "
                       f"{rec.road.bump_text()} on trial, {name} {parent.bump_text()} before")
        log.info("adapter version %d passed its trial (%s)", version, rec.verdict)
        return Verdict(version, rec.parent, False, rec.verdict)

    def _reference(self, rec: Record) -> tuple[Driving, int]:
        """What a trial's bumps are measured against: the last REFERENCE_M metres driven by
        the versions it replaced — its parent's, and when the parent drove less (a drift
        retrain replaced within hours; 0 bumps in 0 m is no record of safety), its parent's
        before that, and so on. Also how many versions that took."""
        total, versions = Driving(), 0
        version, seen = rec.parent, set()
        while version is not None and version not in seen and total.metres < REFERENCE_M:
            seen.add(version)
            before = self.records.get(version)
            if before is None:
                break
            versions += 1
            for block in reversed(before.recent):
                if total.metres >= REFERENCE_M:
                    break
                total.add(block)
            version = before.parent
        return total, versions

    def _new(self, version: int, parent: int | None) -> Record:
        rec = Record(parent)
        newest = max(self.records, default=None)
        if self.config.frames > 0 and parent is not None and (newest is None or
                                                              version > newest):
            rec.trial, rec.road = Driving(), Driving()
            log.info("adapter version %d drives on trial (its parent: %d)", version, parent)
        self.records[version] = rec
        return rec


def _read(path: Path) -> dict[int, Record]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or data.get("format") != BOOK_FORMAT:
        raise ValueError(f"not a {BOOK_FORMAT} file")
    return {int(v): Record.from_json(r) for v, r in data["versions"].items()}


def read_verdicts(path: Path) -> dict[int, str]:
    """Each version's trial as the book holds it, for listing: "on trial", the verdict, or ""
    (never tried). Read-only: an unreadable book reads as empty (the loop sets it aside)."""
    try:
        records = _read(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return {v: r.verdict or ("on trial" if r.trial is not None else "")
            for v, r in records.items()}
