"""Many simulated days in one garden with nobody there: `gardenbot simulate --autonomous`.

Each day the garden wears that day's look of a (compressed) year — tools/garden/season.py's
``look_on_day``: the seasons blend over ``transition_days`` around each boundary, every day has
its own weather and hour — and the robot works one session of ``day_seconds`` from its dock,
closed loop, through `gardenbot simulate`'s session (robot/sim/session.py), faster than real
time. Nobody presses the button, no label map is read and no owner answers: the robot learns
from its own label sources (the configuration "the robot alone" of `gardenbot bench labels`:
corrective experience, probes, the memory of places), and only two things start a retrain —

- the drift alarm: one ``DriftMonitor`` kept across all the days and read on the simulated
  clock (day index × 86 400 s + seconds into that day's work); an alarm with enough new labels
  asks the learner for a retrain in the middle of the day, as on the robot;
- the nightly schedule while docked: one ``ScheduleTrigger`` (the config's schedule and
  ``min_new_samples``) asked once per night, on the same calendar, after the session, with
  the robot's ``ScheduleGate`` on the same monitor (a night waits while a change is
  unconfirmed; ``settle_nights``).

A retrain the learner rejects (it validates worse than the current adapter) is recorded as
rejected. Each day's record: how it drove against the oracle (the same policy on the true
cells, robot/sim/outcomes.py), held-back accuracy on evaluation views of that day's look, the
drift score, alarms, retrains, the replay buffer. At the end: forgetting (FM) of the final
adapter on evaluation views of each season's days. tools/autonomy/timeline.py reads it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DAY_S = 86_400.0
EPOCH = datetime(2027, 3, 1)  # day 0, midnight: the first day of spring (the schedule's clock)
WORK_START_S = 10 * 3600.0  # the daily session leaves the dock at 10:00
DEFAULT_GARDEN = "g07"  # held out: never trained on
DEFAULT_DAYS = 6
DEFAULT_SEASON_DAYS = 8.0
DEFAULT_TRANSITION_DAYS = 2.0
# A day is one session of driving for the drift alarm; it counts once it has [triggers]
# drift_sustain_s of driving (30 s by default), so a day must be longer than that.
DEFAULT_DAY_S = 150.0
DEFAULT_EVAL_VIEWS = 10
FM_DAYS_PER_SEASON = 2  # evaluation views of at most this many days of each season, for FM
SOURCES = "places"  # `gardenbot bench labels`'s configuration "the robot alone" (its name)


@dataclass(frozen=True)
class AutonomyOptions:
    garden: str = DEFAULT_GARDEN
    days: int = DEFAULT_DAYS
    first_day: int | None = None  # None: two days before summer starts turning into autumn
    season_days: float = DEFAULT_SEASON_DAYS
    transition_days: float = DEFAULT_TRANSITION_DAYS
    day_seconds: float = DEFAULT_DAY_S
    seed: int = 0
    fps: float = 10.0
    eval_views: int = DEFAULT_EVAL_VIEWS
    weather: bool = True
    speed: float = 0.0  # 0 = as fast as it goes
    # each morning whose adapter is not the one that started the day before is driven twice
    # more with the learning off: by that one and by the new one (``drive_pair``)
    pairs: bool = False
    # a retrain asked for while the robot works lands at most this many simulated seconds later
    # (SimulationOptions.learn_s): chosen, not measured on a robot — the adapter's training
    # takes seconds, starting the learner process with torch longer on a small computer
    learn_s: float = 60.0
    card: Path | None = None
    defaults: Path | None = None

    def start(self) -> int:
        if self.first_day is not None:
            return self.first_day
        return default_first_day(self.season_days, self.transition_days)

    def check(self) -> None:
        """ValueError naming the option when one is out of range."""
        bad = []
        if self.days < 1:
            bad.append(f"--days must be >= 1 (got {self.days})")
        if self.first_day is not None and self.first_day < 0:
            bad.append(f"--first-day must be >= 0 (got {self.first_day})")
        if not (math.isfinite(self.season_days) and self.season_days >= 1):
            bad.append(f"--season-days must be >= 1 (got {self.season_days:g})")
        elif not 0 <= self.transition_days <= self.season_days:
            bad.append(f"--transition-days must be in [0, --season-days] (got "
                       f"{self.transition_days:g})")
        if not (math.isfinite(self.day_seconds) and self.day_seconds > 0):
            bad.append(f"--day-seconds must be > 0 (got {self.day_seconds:g})")
        if not (math.isfinite(self.learn_s) and self.learn_s >= 0):
            bad.append(f"learn_s must be >= 0 simulated seconds (got {self.learn_s:g})")
        if self.fps <= 0 or self.eval_views < 1 or self.speed < 0:
            bad.append("--fps must be > 0, --eval-views >= 1 and --speed >= 0")
        if bad:
            raise ValueError("; ".join(bad))


def default_first_day(season_days: float, transition_days: float) -> int:
    """Two days before summer starts turning into autumn (the change the shipped adapter,
    trained on spring and summer, has never seen)."""
    return max(0, math.floor(2 * season_days - transition_days / 2) - 2)


class ClockedDrift:
    """The drift monitor kept across the days, read on the simulated clock (``day_s`` plus the
    session's loop time), and what it saw that day: the drift score (mean share of novel cells),
    novel frames, alarms. Stands in for the learner's own monitor (SimulationOptions.drift)."""

    def __init__(self, monitor: Any, day_s: float, novelty: float, fraction: float) -> None:
        self.monitor, self.day_s = monitor, day_s
        self.novelty, self.fraction = novelty, fraction
        self.frames = 0
        self.novel_cells = 0.0
        self.novel_frames = 0
        self.alarms: list[Any] = []

    def update(self, t: float, novelty: np.ndarray, new_samples: int) -> Any:
        nov = np.asarray(novelty)
        share = float((nov > self.novelty).mean()) if nov.size else 0.0
        self.frames += 1
        self.novel_cells += share
        self.novel_frames += share > self.fraction
        alarm = self.monitor.update(self.day_s + t, novelty, new_samples)
        if alarm is not None:
            self.alarms.append(alarm)
        return alarm

    def reset(self) -> None:
        """A new adapter drives: its novelty is new (the learner step calls this)."""
        self.monitor.reset()

    def summary(self) -> dict[str, Any]:
        n = self.frames
        return {"drift_score": round(self.novel_cells / n, 4) if n else None,
                "novel_frame_share": round(self.novel_frames / n, 4) if n else None,
                "alarms": [{k: round(v, 3) if isinstance(v, float) else v
                            for k, v in asdict(a).items()} for a in self.alarms]}


def run_days(opts: AutonomyOptions, cfg: Any, data_dir: Path, sources: Any,
             say: Callable[[str], None] = print) -> dict[str, Any]:
    """Drive the days; the day records, the trigger settings and the end-of-run forgetting.
    ``sources``: the robot's label sources, a configuration of `gardenbot bench labels`
    without a human (tools/bench/labels.py ``Sources``: its ``robot_config`` switches them on;
    the callers pass ``SOURCES``, "the robot alone")."""
    from robot.learning.triggers import DriftMonitor, ScheduleGate, ScheduleTrigger
    from robot.runtime.settings import defaults_dir, open_parts
    from robot.sim.closed_loop import Stage
    from robot.sim.session import SimulationOptions, simulate
    from tools.garden.live import LiveGarden
    from tools.garden.season import change_days, look_on_day, season_of_day

    opts.check()
    src = sources
    if src.human_answers or src.annotate or src.dense:
        raise ValueError(f"{src.name}: an autonomous run has no human and no label maps")
    robot_cfg = src.robot_config(cfg)
    defaults = opts.defaults or defaults_dir(robot_cfg)
    parts = open_parts(robot_cfg, data_dir, defaults, opts.card)  # seeds the data folder
    trig = parts.settings.triggers
    monitor = DriftMonitor(trig)
    first = opts.start()
    schedule = ScheduleTrigger(trig.schedule, trig.min_new_samples,
                               clock(first, WORK_START_S), ScheduleGate(monitor, trig))

    def look(day: int) -> Any:
        return look_on_day(day, opts.seed, season_days=opts.season_days,
                           transition_days=opts.transition_days, weather=opts.weather)

    garden = LiveGarden(opts.garden, look(first).season, seed=opts.seed)
    store = parts.perception.classifier.runner.store
    start_version = store.current_version()
    records: list[dict[str, Any]] = []
    looks: dict[int, Any] = {}
    wall0 = time.monotonic()
    for i in range(opts.days):
        day = first + i
        looks[day] = look(day)
        garden.set_look(looks[day])
        drift = ClockedDrift(monitor, day * DAY_S, trig.drift_novelty, trig.drift_fraction)
        options = SimulationOptions(
            speed=opts.speed, card=opts.card, defaults=defaults, garden=garden,
            stages=(Stage(looks[day].season, opts.day_seconds),), fps=opts.fps, press_after=-1,
            annotate=0.0, owner_answers=0, drive_frames=0, eval_views=opts.eval_views,
            wait_learner=300.0, drift=drift, learn_s=opts.learn_s, quiet=True, **src.options)
        pair = None
        if opts.pairs and records and records[-1]["adapter_start"] != store.current_version():
            pair = drive_pair(options, robot_cfg, data_dir, opts,
                              records[-1]["adapter_start"], store.current_version(),
                              looks[day])
        t0 = time.monotonic()
        s = simulate(options, robot_cfg, data_dir)
        rec = day_record(day, looks[day].season, season_of_day(day, opts.season_days), s, drift)
        rec["retrains"] += night(parts, schedule, clock(day + 1, WORK_START_S - 60))
        rec["night_skipped"] = schedule.skipped
        rec["adapter_after_night"] = store.current_version()
        if rec["adapter_after_night"] != rec["adapter_end"]:
            # as the robot's learner step does when perception's adapter changes: the new
            # adapter's novelty is new, the evidence gathered under the old one is forgotten
            monitor.reset()
        rec["buffer"] = buffer_state(parts)
        if pair is not None:
            rec["pair"] = pair
        rec["wall_s"] = round(time.monotonic() - t0, 1)
        records.append(rec)
        say(day_line(rec))
    last, half = first + opts.days - 1, opts.transition_days / 2
    changes = [c for c in change_days(last + half + 1, opts.season_days)
               if c + half >= first and c - half <= last]  # its blend meets the days run
    fm = forgetting(parts, garden, looks, store, start_version, opts.eval_views)
    return {
        "garden": opts.garden, "seed": opts.seed, "first_day": first, "days": opts.days,
        "season_days": opts.season_days, "transition_days": opts.transition_days,
        "day_seconds": opts.day_seconds, "fps": opts.fps, "eval_views": opts.eval_views,
        "weather": opts.weather, "learn_s": opts.learn_s, "sources": src.name,
        "source_text": src.text,
        "triggers": {k: getattr(trig, k) for k in (
            "schedule", "min_new_samples", "drift_novelty", "drift_fraction", "drift_share",
            "drift_sessions", "drift_sustain_s", "drift_gap_s", "drift_cooldown_s",
            "hold_unconfirmed", "settle_nights", "bump_alarm", "bump_window")},
        "trial": asdict(parts.settings.trial),
        "changes": changes, "adapter_start": start_version,
        "adapter_end": store.current_version(), "records": records, "forgetting": fm,
        "wall_s": round(time.monotonic() - wall0, 1),
    }


def drive_pair(options: Any, cfg: Any, data_dir: Path, opts: AutonomyOptions, old: int,
               new: int, look: Any) -> dict[str, Any]:
    """The morning's look driven twice more before the day: by ``old`` (the adapter that
    started the day before) and by ``new`` (the one the night or the day left), each from a
    copy of the data folder, in a fresh garden of that look from the same dock, with every
    retrain trigger, the trial and the bump alarm off. Bumps per 100 m of the two on the same
    ground, light and start: whether the retrains raised collisions — comparing one day with
    the next mixes in each day's own ground and luck. Odometry, the obstacle memory and the
    memory of places start alike; the runs differ only in the adapter."""
    import shutil
    import tempfile
    from dataclasses import replace

    from robot.adapter.store import AdapterStore
    from robot.common.errors import GardenbotError
    from robot.sim.session import simulate
    from tools.garden.live import LiveGarden

    quiet = replace(cfg, triggers=replace(cfg.triggers, schedule="off", drift_novelty=0.0,
                                          bump_alarm=0),
                    learner=replace(cfg.learner, trial_frames=0))
    out: dict[str, Any] = {"old": {"version": old}, "new": {"version": new}}
    t0 = time.monotonic()
    for name, version in (("new", new), ("old", old)):  # old last: a leak would show
        with tempfile.TemporaryDirectory(prefix="gardenbot-pair-") as tmp:
            copy = Path(tmp) / "data"
            shutil.copytree(data_dir, copy)
            try:
                AdapterStore(copy / "adapters").rollback(version)
            except GardenbotError as e:
                return {"old": {"version": old}, "new": {"version": new},
                        "why_not": f"version {version} cannot drive ({e})"}
            garden = LiveGarden(opts.garden, look.season, seed=opts.seed)
            garden.set_look(look)
            s = simulate(replace(options, garden=garden, drift=None, eval_views=1), quiet,
                         copy)
        d = driving(s)
        out[name] = {"version": s["adapter"]["end"],
                     **{k: d[k] for k in ("distance_m", "bumps", "bumps_per_100m",
                                          "false_stop_rate")}}
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def driving(s: dict[str, Any]) -> dict[str, Any]:
    """How a session drove, against the oracle, from its summary (robot/sim/session.py)."""
    rows = [r for k, r in s["drive"].items() if not k.endswith("|oracle")]
    frames = sum(r["frames"] for r in rows)
    oracle_drives = sum(r["oracle_drive_frames"] for r in rows)
    oracle_stops = frames - oracle_drives
    false_stops = sum(round((r["false_stop_rate"] or 0.0) * r["oracle_drive_frames"])
                      for r in rows)
    missed = sum(round((r["missed_obstacle_rate"] or 0.0)
                       * (r["frames"] - r["oracle_drive_frames"])) for r in rows)
    distance = sum(r["distance_m"] for r in rows)
    bumps = sum(r["bumps"] for r in rows)
    drove = sum(round((r["drove_share"] or 0.0) * r["frames"]) for r in rows)
    culprits: Counter[str] = Counter()
    for r in rows:
        culprits.update(r.get("false_stop_cells") or {})
    return {
        "frames": frames, "drove_share": _ratio(drove, frames),
        "oracle_drove_share": _ratio(oracle_drives, frames),
        "false_stop_rate": _ratio(false_stops, oracle_drives),
        # The oracle is the reference every frame is judged against (the same policy on the
        # true cells): its own false-stop rate is 0 by construction.
        "oracle_false_stop_rate": 0.0,
        "missed_obstacle_rate": _ratio(missed, oracle_stops),
        "distance_m": round(distance, 2), "bumps": bumps,
        "bumps_per_100m": round(100.0 * bumps / distance, 2) if distance > 0 else None,
        # what stopped the robot where the oracle drove (robot/sim/outcomes.py stop_culprits)
        "false_stop_cells": dict(culprits.most_common()),
    }


def clock(day: float, seconds: float) -> datetime:
    """The simulated calendar the schedule reads: ``day`` days after EPOCH, plus seconds."""
    return EPOCH + timedelta(days=day, seconds=seconds)


def day_record(day: int, season: str, calendar: str, s: dict[str, Any],
               drift: ClockedDrift) -> dict[str, Any]:
    """One day's numbers from the session's summary (robot/sim/session.py)."""
    start, end = s["adapter"]["start"], s["adapter"]["end"]
    held = next(iter(s["held_back"].values()), {})
    return {
        "day": day, "season": season, "calendar_season": calendar, **driving(s),
        "held_back_start": held.get(f"v{start}"), "held_back": held.get(f"v{end}"),
        "held_back_frames": held.get("frames"),
        "adapter_start": start, "adapter_end": end,
        **drift.summary(),
        "retrains": [{"when": "day", **r} for r in s["retrains"]],
        # a published adapter's trial (robot/learning/trial.py): kept, or rolled back
        "trials": s.get("trials", []),
        "bump_alarms": s.get("bump_alarms", 0),
        "slow_m": s.get("slow_m", 0.0),  # metres driven slowly after a bump alarm
        "hold_frames": s.get("hold_frames", 0),  # frames held still after one
        "labels_offered": s["buffer"]["offered"], "probes": (s.get("probe") or {}).get("probes"),
        # bumps that ended a probe: the bumper as the safety of a deliberate test of ground
        "probe_bumps": ((s.get("probe") or {}).get("outcomes") or {}).get("bump", 0),
        "session_s": s["seconds"],
    }


def night(parts: Any, schedule: Any, now: datetime) -> list[dict[str, Any]]:
    """The night at the dock: the schedule asked once; its retrain run to the end."""
    from robot.learning.process import LearnerProcess
    from robot.learning.retrain import RetrainJob

    memory = _memory(parts)
    new = memory.new_cells
    if not schedule.due(now, new, memory.new_human_cells):
        return []
    s = parts.settings
    job = RetrainJob(str(parts.paths.buffer), str(parts.paths.store), train=s.train,
                     buffer=s.buffer, publish=s.publish, reason="schedule",
                     backbone_sha256=parts.backbone.backbone_id,
                     feature_dim=parts.backbone.feature_dim,
                     classes=tuple(parts.perception.classifier.classes))
    t0 = time.monotonic()
    proc = LearnerProcess(job, parts.paths.status, s.process)
    proc.start()
    st = proc.wait(600.0)
    res = st.result or {}
    return [{"when": "night", "reason": "schedule", "state": st.state, "message": st.message,
             "seconds": round(time.monotonic() - t0, 1), "version": res.get("version"),
             "candidate_score": res.get("candidate_score"),
             "current_score": res.get("current_score"), "new_cells": res.get("new_cells", new),
             "replay_cells": res.get("replay_cells"), "train_s": res.get("train_s")}]


def _memory(parts: Any) -> Any:
    from robot.runtime.learning import Memory

    return Memory.open(parts.paths.buffer, parts.paths.store, parts.backbone.backbone_id,
                       parts.backbone.feature_dim, parts.perception.classifier.classes,
                       parts.settings)


def buffer_state(parts: Any) -> dict[str, Any]:
    """The replay buffer on disk after the night: cells by season, bytes against its cap."""
    buf = _memory(parts).buffer
    return {"cells": len(buf), "by_season": buf.season_counts(), "bytes": buf.nbytes,
            "file_bytes": parts.paths.buffer.stat().st_size,
            "capacity_bytes": buf.config.capacity_bytes}


def forgetting(parts: Any, garden: Any, looks: dict[int, Any], store: Any, start_version: int,
               n_views: int) -> dict[str, Any]:
    """FM at the end, in accuracy points: for each season the run saw before its last, the
    best accuracy any adapter version of the run had on evaluation views of that season's days
    (at most FM_DAYS_PER_SEASON of them), minus the final adapter's."""
    from robot.seeing.labels import cell_labels
    from robot.sim.scoreboard import Scoreboard, evaluate_versions

    by_season: dict[str, list[int]] = {}
    for day, look in looks.items():
        by_season.setdefault(look.season, []).append(day)
    board = Scoreboard()
    for season, days in by_season.items():
        for day in (days[:1] + days[-1:])[:FM_DAYS_PER_SEASON]:
            garden.set_look(looks[day])
            for image, labels in garden.eval_views(n_views, seed=1):
                cells = parts.perception.step(image)
                truth = cell_labels(labels, cells.grid_hw, len(cells.class_names))
                board.hold_back(season, cells.features, truth)
    final = store.current_version()
    # the store keeps its newest [publish] keep_versions versions: a long run's first ones are
    # gone, and "the best any version had" is over those that are left (listed as pruned)
    kept = set(store.version_numbers())
    versions = [v for v in range(start_version, final + 1) if v in kept]
    pruned = [v for v in range(start_version, final + 1) if v not in kept]
    acc = evaluate_versions(store, versions, board.held_back)
    order = list(by_season)
    earlier = order[:-1]
    drops = {s: round(100 * (max(acc[s].values()) - acc[s][final]), 2) for s in earlier
             if s in acc}
    return {"versions": versions, "pruned": pruned, "final": final,
            "accuracy": {s: {f"v{v}": round(a, 4) for v, a in acc[s].items()} for s in acc},
            "drop_points": drops,
            "fm_points": round(float(np.mean(list(drops.values()))), 2) if drops else None,
            "seasons": order}


def day_line(r: dict[str, Any]) -> str:
    from tools.formatting import num, pct

    trains = ", ".join(f"{t['reason']} {t['state']}" + (f" v{t['version']}" if t.get("version")
                                                          else "") for t in r["retrains"])
    return (f"day {r['day']:>3} {r['season']:<6} false stops {pct(r['false_stop_rate']):>4} "
            f"(oracle 0 %), missed {pct(r['missed_obstacle_rate']):>4}, "
            f"{r['distance_m']:.1f} m, bumps {r['bumps']}, held-back "
            f"{num(r['held_back'], '.3f')}, drift "
            f"{pct(r['drift_score'])}, alarms {len(r['alarms'])}"
            + (f", retrains: {trains}" if trains else "")
            + "".join(f"; v{t['version']} rolled back to v{t['parent']}"
                      for t in r.get("trials", []) if t["rolled_back"])
            + (f"; night skipped: {r['night_skipped']}" if r.get("night_skipped") else "")
            + f"; adapter v{r['adapter_after_night']}, buffer {r['buffer']['cells']} cells; "
            f"{r['wall_s']:.0f} s")


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None
