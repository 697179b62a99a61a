"""`gardenbot bench policy`: false stops against missed obstacles, over the policy's unsure rules.

Open loop, on the live synthetic gardens (tools/garden/live.py): for each garden × season, the
``eval_views`` (fixed poses, some close to obstacles; fixed seeds) are rendered once and seen
once by each adapter — the shipped one (``models/default``) and, unless ``--quick``, the
shipped one retrained once on a season (``--retrain``; true labels of other views of the
training gardens, the learner's own retrain job) — then judged under every policy setting of a
grid (``min_confidence`` × unsure rule: ``stop``, or ``creep`` with an ``unsure_block_share``
× ``max_novelty``) against the oracle: the same setting on the view's true cells
(robot/sim/outcomes.py). Per adapter, setting, garden and season:

- false-stop rate: the oracle drives, the robot does not (stops or turns on the spot);
- missed-obstacle rate: the robot drives where the oracle does not (and how often faster than
  a creep);
- bumps: the body (tools/garden/motion.py, round, radius 0.20 m) holds the command for
  ``HOLD_S`` from the view's pose and touches an obstacle, a ball or the fence;
- creep share and mean forward speed (and the oracle's).

Quality bars: under the defaults perception bumps no more than under the old stop rule, and the
oracle drives on every view whose way straight ahead is clear for ``OPEN_AHEAD_M`` (geometry:
no contact, bed or hose). The oracle's own bumps are reported (INFO). The defaults are picked
from the curve on the training gardens only (``pick``); the test gardens are reported, never
tuned on. docs/policy.md has the study, the curve and the choice.

Output (default ``runs/bench-policy/``): ``report.md``, ``results.json``, ``curve.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from robot.acting.config import PolicyConfig
from robot.acting.policy import DriveCommand, GroundGrid, drive_command
from robot.common.body import RobotConfig
from robot.common.classes import SEASONS
from robot.sim.outcomes import judge, oracle_cells, truth_cells
from tools.bench.verdict import QUALITY, Bar, exit_status
from tools.garden.layout import TEST_GARDENS, TRAIN_GARDENS
from tools.garden.motion import ROBOT_RADIUS_M, WHEEL_BASE_M, contact_gap
from tools.garden.objects import Spheroid

EVAL_SEED = 1  # LiveGarden.eval_views seed of the views judged
RETRAIN_SEED = 2  # ... and of the views a retrained adapter learns from (other poses)
SHIPPED = "shipped"
HOLD_S = 1.0  # a command held this long from the view's pose (about three command lifetimes)
OPEN_AHEAD_M = 1.0  # "the way is open": this much clear ground straight ahead of the bumper
BODY = RobotConfig(width_m=2 * ROBOT_RADIUS_M, front_m=ROBOT_RADIUS_M, rear_m=ROBOT_RADIUS_M)
REFERENCE = "stop c0.60"  # the rule before this study (unsure cells block, low mean stops)
# The pick (``pick``), on the training gardens: no more bumps than the reference; fast misses
# (driving faster than a creep where the oracle stops) at most FAST_SLACK more often; missed
# obstacles at most MISSED_BUDGET above the reference's (a creep toward an obstacle is slow,
# not harmless: the camera cannot see the last 0.1-0.2 m before the bumper); a mean forward
# speed no lower than the reference's (halving the freezes by creeping everywhere would cover
# less lawn than before); then the fewest false stops.
FAST_SLACK = 0.02
MISSED_BUDGET = 0.10
FS_TOLERANCE = 0.01  # false-stop rates this close are one view apart here: not a difference

FULL_CONFIDENCES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
# unsure_block_share: 0 = every unsure cell blocks; 0.125 = one confidently blocked neighbour
# of eight is enough; 0.375 is the most a cell on the straight edge of a blob sees (3 of 8)
FULL_RULES: tuple[tuple[str, float], ...] = (("stop", 0.0), ("creep", 0.0), ("creep", 0.125),
                                             ("creep", 0.25), ("creep", 0.375),
                                             ("creep", 0.5))
FULL_NOVELTIES = (0.0, 0.9)
QUICK_CONFIDENCES = (0.6, 0.9)
QUICK_RULES: tuple[tuple[str, float], ...] = (("stop", 0.0), ("creep", 0.125))
QUICK_NOVELTIES = (0.0,)


def setting_name(p: PolicyConfig) -> str:
    rule = "stop" if p.unsure == "stop" else f"creep{p.unsure_block_share:g}"
    nov = f" n{p.max_novelty:.1f}" if p.max_novelty > 0 else ""
    return f"{rule} c{p.min_confidence:.2f}{nov}"


def settings_grid(confidences: Iterable[float], rules: Iterable[tuple[str, float]],
                  novelties: Iterable[float], base: PolicyConfig) -> list[PolicyConfig]:
    out = {}
    for n in novelties:
        for rule, share in rules:
            for c in confidences:
                p = replace(base, min_confidence=c, unsure=rule, unsure_block_share=share,
                            max_novelty=n)
                out[setting_name(p)] = p
    ref = replace(base, min_confidence=0.6, unsure="stop", max_novelty=0.0)
    out.setdefault(REFERENCE, ref)
    out.setdefault(setting_name(base), base)  # the current defaults are always measured
    return list(out.values())


@dataclass
class Tally:
    views: int = 0
    oracle_drives: int = 0
    false_stops: int = 0
    oracle_stops: int = 0
    missed: int = 0
    missed_fast: int = 0  # ... at more than creep speed
    bumps: int = 0
    oracle_bumps: int = 0
    creeps: int = 0
    speed_sum: float = 0.0
    oracle_speed_sum: float = 0.0
    open_views: int = 0  # the way straight ahead is clear (geometry)
    oracle_stuck_open: int = 0  # ... and the oracle does not drive
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        for f in fields(self):
            if f.name == "reasons":
                for k, v in other.reasons.items():
                    self.reasons[k] = self.reasons.get(k, 0) + v
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def summary(self) -> dict[str, Any]:
        def rate(a: int, b: int) -> float | None:
            return round(a / b, 3) if b else None

        return {"views": self.views, "false_stop_rate": rate(self.false_stops, self.oracle_drives),
                "missed_obstacle_rate": rate(self.missed, self.oracle_stops),
                "missed_fast_rate": rate(self.missed_fast, self.oracle_stops),
                "oracle_drive_views": self.oracle_drives, "oracle_stop_views": self.oracle_stops,
                "bumps": self.bumps, "oracle_bumps": self.oracle_bumps,
                "creep_share": rate(self.creeps, self.views),
                "mean_speed_mps": round(self.speed_sum / self.views, 3) if self.views else None,
                "oracle_mean_speed_mps": (round(self.oracle_speed_sum / self.views, 3)
                                          if self.views else None),
                "open_views": self.open_views, "oracle_stuck_open": self.oracle_stuck_open,
                "reasons": dict(sorted(self.reasons.items()))}


@dataclass(frozen=True)
class View:
    garden: str
    season: str
    pose: tuple[float, float, float]
    cells: dict[str, Any]  # adapter name -> CellMap from its perception
    oracle: Any  # CellMap of the true cells
    open_ahead: bool


def hose_gap(garden: Any, x: float, y: float) -> float:
    """Distance (m) from (x, y) to the nearest hose's edge (inf without hoses)."""
    best = math.inf
    p = np.array([x, y])
    for hose in garden.hoses:
        pts = np.asarray(hose.points, float)
        a, b = pts[:-1], pts[1:]
        ab = b - a
        t = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0.0, 1.0)
        d = np.hypot(*(a + t[:, None] * ab - p).T).min() - hose.width_m / 2
        best = min(best, float(d))
    return best


def loose_spheroids(garden: Any) -> np.ndarray:
    """(n, 3) x, y, radius of spheroids resting on the ground (balls): the garden's contact
    model gives them no ground circle (they touch at a point), so its bumper misses them, but
    a body meets their widest circle. Counted here so that a ball in the way is in the way."""
    out = [(p.x_m, p.y_m, p.radius_m) for ob in garden.obstacles for p in ob.parts
           if isinstance(p, Spheroid) and p.ground_radius_m <= 0 and p.z_m < 2 * p.half_height_m]
    return np.array(out, float).reshape(-1, 3)


def body_gap(garden: Any, x: float, y: float) -> float:
    """Distance between the robot's footprint at (x, y) and anything it can touch, balls too."""
    gap = contact_gap(garden, x, y)
    balls = loose_spheroids(garden)
    if len(balls):
        d = np.hypot(balls[:, 0] - x, balls[:, 1] - y) - balls[:, 2] - ROBOT_RADIUS_M
        gap = min(gap, float(d.min()))
    return gap


def way_open(live: Any, pose: tuple[float, float, float], ahead_m: float,
             clearance_m: float) -> bool:
    """The robot's footprint can move straight ahead ``ahead_m`` past its bumper keeping
    ``clearance_m`` (the policy's) to anything it could touch, without any part of it over a
    bed, and without crossing a hose (the body rolls over hoses, but the camera labels them
    obstacles, so the policy keeps off them)."""
    x, y, th = pose
    c, s = math.cos(th), math.sin(th)
    g = live.garden
    for d in np.arange(0.0, ahead_m + 1e-9, 0.05):
        cx, cy = x + d * c, y + d * s
        if (body_gap(g, cx, cy) <= clearance_m
                or hose_gap(g, cx, cy) <= ROBOT_RADIUS_M + clearance_m):
            return False
        for lat in (-ROBOT_RADIUS_M, 0.0, ROBOT_RADIUS_M):
            for fwd in (0.0, ROBOT_RADIUS_M):
                if live.in_bed(cx + fwd * c - lat * s, cy + fwd * s + lat * c):
                    return False
    return True


def bumps(live: Any, pose: tuple[float, float, float], cmd: DriveCommand,
          cache: dict[tuple[float, float], bool]) -> bool:
    """Whether holding ``cmd`` for HOLD_S from ``pose`` touches an obstacle or the fence."""
    key = (round(cmd.v_mps, 4), round(cmd.omega_radps, 4))
    if key not in cache:
        if cmd.is_stop:
            cache[key] = False
        else:
            live.place(pose)
            half = cmd.omega_radps * WHEEL_BASE_M / 2
            hit = False
            for _ in range(10):
                r = live.step(cmd.v_mps - half, cmd.v_mps + half, HOLD_S / 10)
                if r.bumper or r.stall or body_gap(live.garden, *r.pose[:2]) <= 0:
                    hit = True
                    break
            cache[key] = hit
    return cache[key]


def collect(gardens: Iterable[str], seasons: Iterable[str], n_views: int,
            perceptions: dict[str, Any], progress: bool = True) -> Iterable[tuple[Any, View]]:
    """Every evaluation view (rendered once), seen by every adapter, with its true cells."""
    from tools.garden.live import LiveGarden

    for gid in gardens:
        for season in seasons:
            t0 = time.perf_counter()
            live = LiveGarden(gid, season, seed=0)
            poses = live.eval_poses(n_views, seed=EVAL_SEED)
            views = live.eval_views(n_views, seed=EVAL_SEED)
            for pose, (image, labels) in zip(poses, views, strict=True):
                cells = {name: per.step(image) for name, per in perceptions.items()}
                like = next(iter(cells.values()))
                truth = truth_cells(labels, like.grid_hw, like.class_names)
                yield live, View(gid, season, pose, cells, oracle_cells(truth, like),
                                 way_open(live, pose, OPEN_AHEAD_M,
                                          PolicyConfig().clearance_m))
            if progress:
                print(f"  {gid} {season}: {n_views} views in {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr)


Key = tuple[str, str, str, str]  # adapter, setting, garden, season


def run(gardens: list[str], seasons: list[str], n_views: int, settings: list[PolicyConfig],
        perceptions: dict[str, Any], camera: Any) -> dict[Key, Tally]:
    """Tallies keyed by (adapter, setting name, garden, season)."""
    tallies: dict[Key, Tally] = {}
    ground: GroundGrid | None = None
    for live, v in collect(gardens, seasons, n_views, perceptions):
        if ground is None:
            ground = GroundGrid.from_camera(camera, v.oracle.grid_hw)
        cache: dict[tuple[float, float], bool] = {}
        for p in settings:
            ocmd = drive_command(v.oracle, ground, p, BODY)
            oracle_bump = bumps(live, v.pose, ocmd, cache)
            for adapter, cells in v.cells.items():
                cmd = drive_command(cells, ground, p, BODY)
                verdict = judge(cmd, ocmd)
                t = tallies.setdefault((adapter, setting_name(p), v.garden, v.season), Tally())
                t.views += 1
                t.oracle_drives += verdict.oracle_drove
                t.oracle_stops += not verdict.oracle_drove
                t.false_stops += verdict.false_stop
                t.missed += verdict.missed_obstacle
                t.missed_fast += verdict.missed_obstacle and cmd.v_mps > p.creep_speed_mps + 1e-9
                t.bumps += bumps(live, v.pose, cmd, cache)
                t.oracle_bumps += oracle_bump
                t.creeps += cmd.reason == "creep"
                t.speed_sum += max(cmd.v_mps, 0.0)
                t.oracle_speed_sum += max(ocmd.v_mps, 0.0)
                t.reasons[cmd.reason] = t.reasons.get(cmd.reason, 0) + 1
                if v.open_ahead:
                    t.open_views += 1
                    t.oracle_stuck_open += ocmd.v_mps <= 0.0
    return tallies


def aggregate(tallies: dict[Key, Tally], adapters: Iterable[str], setting: str,
              gardens: Iterable[str], seasons: Iterable[str]) -> Tally:
    out = Tally()
    for a in adapters:
        for g in gardens:
            for s in seasons:
                t = tallies.get((a, setting, g, s))
                if t is not None:
                    out.add(t)
    return out


def pick(rows: dict[str, dict[str, Any]], settings: dict[str, PolicyConfig]) -> str:
    """The setting picked from the curve (training gardens; the rules above), and among those
    within FS_TOLERANCE of the fewest false stops the one that misses fewest, then the one whose
    unsure cells block most readily (the lowest ``unsure_block_share``: the unsure rim of an
    obstacle blocks), then the name (stable)."""
    ref = rows[REFERENCE]

    def r(row: dict[str, Any], key: str) -> float:
        return row[key] or 0.0

    ok = [name for name, row in rows.items()
          if row["bumps"] <= ref["bumps"]
          and r(row, "missed_fast_rate") <= r(ref, "missed_fast_rate") + FAST_SLACK
          and r(row, "missed_obstacle_rate") <= r(ref, "missed_obstacle_rate") + MISSED_BUDGET
          and r(row, "mean_speed_mps") >= r(ref, "mean_speed_mps")]
    best = min(r(rows[n], "false_stop_rate") for n in ok)
    near = [n for n in ok if r(rows[n], "false_stop_rate") <= best + FS_TOLERANCE]
    return min(near, key=lambda n: (r(rows[n], "missed_obstacle_rate"),
                                    settings[n].unsure_block_share, n))


def plot(rows_by_panel: dict[str, dict[str, dict[str, Any]]], marks: dict[str, str],
         path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(rows_by_panel)
    n_rows = 1 if len(panels) <= 3 else 2
    n_cols = math.ceil(len(panels) / n_rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(5.2 * n_cols, 4.6 * n_rows),
                             layout="constrained", squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    styles = {"": "-", "n1.0": "--", "n0.9": ":"}
    colours = {"stop": "tab:red", "creep0": "tab:orange", "creep0.125": "tab:olive",
               "creep0.25": "tab:green", "creep0.375": "tab:cyan", "creep0.5": "tab:blue"}
    for ax, panel in zip(axes.flat, panels, strict=False):
        rows = rows_by_panel[panel]
        groups: dict[str, list[tuple[float, float, float]]] = {}
        for name, r in rows.items():
            if r["false_stop_rate"] is None or r["missed_obstacle_rate"] is None:
                continue
            parts = name.split()
            rule = " ".join([parts[0], *parts[2:]])  # the setting without its min_confidence
            c = float(parts[1][1:])
            groups.setdefault(rule, []).append((c, r["missed_obstacle_rate"],
                                                r["false_stop_rate"]))
        for rule, pts in sorted(groups.items()):
            pts.sort()
            base, _, nov = rule.partition(" ")
            ax.plot([p[1] for p in pts], [p[2] for p in pts], styles.get(nov, "-."),
                    marker="o", ms=3, color=colours.get(base, "grey"), label=rule,
                    alpha=0.85 if not nov else 0.5)
        for label, name in marks.items():
            if (name in rows and rows[name]["false_stop_rate"] is not None
                    and rows[name]["missed_obstacle_rate"] is not None):
                r = rows[name]
                ax.plot(r["missed_obstacle_rate"], r["false_stop_rate"], "k*" if label ==
                        "picked" else "kx", ms=11)
                ax.annotate(label, (r["missed_obstacle_rate"], r["false_stop_rate"]),
                            textcoords="offset points", xytext=(6, 4), fontsize=8)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("missed-obstacle rate")
        ax.set_ylabel("false-stop rate")
        xs = [r["missed_obstacle_rate"] for r in rows.values()
              if r["missed_obstacle_rate"] is not None]
        ax.set_xlim(-0.01, max([0.3, *xs]) + 0.02)  # missed rates stay small: zoom in
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes.flat:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper right", ncol=2)
            break
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def report(results: dict[str, Any]) -> str:
    adapters = ", ".join(f"{k} ({v})" for k, v in results["adapters"].items())
    lines = ["# Policy under real perception: false stops vs missed obstacles", "",
             f"Gardens: train {', '.join(results['train'])}; test {', '.join(results['test'])}; "
             f"seasons {', '.join(results['seasons'])}; {results['views']} views each "
             f"(eval seed {EVAL_SEED}). Adapters: {adapters}. Body: round, radius "
             f"{ROBOT_RADIUS_M} m. {results['seconds']:.0f} s.", "",
             f"Picked on the training gardens, all adapters together: **{results['chosen']}** "
             f"(reference {REFERENCE}; current defaults {results['defaults']}).", "",
             "## The curve (training gardens, all seasons, all adapters)", "",
             "| setting | false stops | missed obstacles | of them faster than creep | bumps "
             "| oracle bumps | creep share | mean v (m/s) | oracle mean v |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in sorted(results["train_all"].items(),
                          key=lambda kv: (kv[1]["false_stop_rate"] or 0.0)):
        lines.append(f"| {name} | {_pct(r['false_stop_rate'])} | "
                     f"{_pct(r['missed_obstacle_rate'])} | {_pct(r['missed_fast_rate'])} | "
                     f"{r['bumps']} | {r['oracle_bumps']} | "
                     f"{_pct(r['creep_share'])} | {r['mean_speed_mps']} | "
                     f"{r['oracle_mean_speed_mps']} |")
    lines += ["", "## Per adapter and season: reference, defaults, picked", "",
              "Rates with their denominators: false stops of the views where the oracle drives, "
              "missed obstacles of the views where it does not.", "",
              "| split | adapter | season | setting | false stops | missed obstacles | bumps "
              "| oracle bumps | oracle stuck where open | creep share |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for row in results["per_season"]:
        lines.append(f"| {row['split']} | {row['adapter']} | {row['season']} | "
                     f"{row['setting']} | "
                     f"{_pct(row['false_stop_rate'])} of {row['oracle_drive_views']} | "
                     f"{_pct(row['missed_obstacle_rate'])} of {row['oracle_stop_views']} | "
                     f"{row['bumps']} | {row['oracle_bumps']} | "
                     f"{row['oracle_stuck_open']}/{row['open_views']} | "
                     f"{_pct(row['creep_share'])} |")
    lines += ["", "## Bars", ""] + [Bar(**b).line() for b in results["bars"]]
    return "\n".join(lines) + "\n"


def open_perception(card: str, defaults: Path, tmp: Path) -> Any:
    """Perception on the shipped adapter (a data folder in ``tmp`` seeded from ``defaults``)."""
    from robot.runtime.settings import prepare_data_dir
    from robot.seeing.backbone import Backbone
    from robot.seeing.perception import Perception, StoreClassifier

    backbone = Backbone(card, "fp32", 1)
    paths = prepare_data_dir(tmp, defaults, backbone.backbone_id, backbone.feature_dim)
    return Perception(backbone, StoreClassifier.open(paths.store, backbone))


def retrained_perception(card: str, defaults: Path, tmp: Path, season: str,
                         gardens: Iterable[str], n_views: int) -> Any:
    """Perception on the shipped adapter retrained once on ``season``: the true cell labels of
    ``n_views`` views per training garden (other poses than the judged ones, RETRAIN_SEED)
    added to the shipped replay buffer, then the learner's own retrain job (its default
    strategy, the robot's buffer size) — a button retrain with perfect answers."""
    from robot.common.samples import make_cells
    from robot.learning.replay_buffer import ReplayBuffer
    from robot.learning.retrain import RetrainJob, run_retrain
    from robot.runtime.settings import prepare_data_dir
    from robot.seeing.backbone import Backbone
    from robot.seeing.labels import cell_labels
    from robot.seeing.perception import Perception, StoreClassifier
    from tools.garden.live import LiveGarden

    t0 = time.perf_counter()
    backbone = Backbone(card, "fp32", 1)
    paths = prepare_data_dir(tmp, defaults, backbone.backbone_id, backbone.feature_dim)
    buffer = ReplayBuffer.load(paths.buffer, backbone_sha256=backbone.backbone_id,
                               feature_dim=backbone.feature_dim)
    for gid in gardens:
        for image, labels in LiveGarden(gid, season, seed=0).eval_views(n_views, RETRAIN_SEED):
            feats = backbone.features(image)
            y = cell_labels(labels, feats.shape[:2], len(buffer.classes))
            keep = y != 255
            buffer.add(make_cells(feats[keep], y[keep], source="annotation", season=season,
                                  recording=f"{gid}-{season}-retrain"))
    buffer.save(paths.buffer)
    done = run_retrain(RetrainJob(str(paths.buffer), str(paths.store), reason="cli", seed=0,
                                  force_publish=True))
    print(f"  retrained on {season}: v{done['version']} ({done['new_cells']} new cells, "
          f"validation {done['candidate_score']:.3f}) in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return Perception(backbone, StoreClassifier.open(paths.store, backbone))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gardenbot bench policy", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="CI-sized: 1 train + 1 test garden, 2 seasons, 4 views, 5 settings, "
                    "the shipped adapter only")
    ap.add_argument("--views", type=int, default=None, help="views per garden and season (32)")
    ap.add_argument("--retrain", default=None,
                    help="comma-separated seasons: also judge the shipped adapter retrained on "
                    "each (default autumn,winter; none with --quick; '' = none)")
    ap.add_argument("--card", default="models/backbone.json", help="backbone model card")
    ap.add_argument("--defaults", default="models/default", help="the shipped adapter's folder")
    ap.add_argument("--out", default="runs/bench-policy", help="report folder")
    args = ap.parse_args(argv)
    if args.views is not None and args.views < 1:
        ap.error("--views must be at least 1")
    if args.quick:
        train, test, seasons = ["g00"], ["g06"], ["summer", "autumn"]
        n_views = args.views or 4
        settings = settings_grid(QUICK_CONFIDENCES, QUICK_RULES, QUICK_NOVELTIES, PolicyConfig())
    else:
        train, test, seasons = list(TRAIN_GARDENS), list(TEST_GARDENS), list(SEASONS)
        n_views = args.views or 32
        settings = settings_grid(FULL_CONFIDENCES, FULL_RULES, FULL_NOVELTIES, PolicyConfig())
    retrain = args.retrain if args.retrain is not None else ("" if args.quick else
                                                             "autumn,winter")
    retrain_seasons = [x.strip() for x in retrain.split(",") if x.strip()]
    for x in retrain_seasons:
        if x not in SEASONS:
            ap.error(f"--retrain: {x!r} is not a season; one of {', '.join(SEASONS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-policy-") as tmp:
        perceptions = {SHIPPED: open_perception(args.card, Path(args.defaults),
                                                Path(tmp) / SHIPPED)}
        for x in retrain_seasons:
            perceptions[f"retrained-{x}"] = retrained_perception(
                args.card, Path(args.defaults), Path(tmp) / x, x, train, n_views)
        from tools.garden.generate import default_camera

        tallies = run(train + test, seasons, n_views, settings, perceptions, default_camera())
        versions = {k: per.classifier.version for k, per in perceptions.items()}
    adapters = list(perceptions)
    names = [setting_name(p) for p in settings]
    train_all = {n: aggregate(tallies, adapters, n, train, seasons).summary() for n in names}
    chosen = pick(train_all, {setting_name(p): p for p in settings})
    defaults = setting_name(PolicyConfig())
    per_season = []
    for split, gardens in (("train", train), ("test", test)):
        for a in adapters:
            for s in seasons:
                for n in dict.fromkeys([REFERENCE, defaults, chosen]):
                    per_season.append({"split": split, "adapter": a, "season": s, "setting": n,
                                       **aggregate(tallies, [a], n, gardens, [s]).summary()})
    d_all = aggregate(tallies, adapters, defaults, train + test, seasons)
    ref_all = aggregate(tallies, adapters, REFERENCE, train + test, seasons)
    d_oracle = aggregate(tallies, adapters[:1], defaults, train + test, seasons)
    bars = [
        Bar("defaults_bump_no_more", QUALITY, d_all.bumps <= ref_all.bumps,
            f"perception under the defaults bumps {d_all.bumps} times in {d_all.views} "
            f"adapter-views (holding each command {HOLD_S} s), the reference {REFERENCE} "
            f"{ref_all.bumps}"),
        Bar("oracle_drives_where_open", QUALITY, d_oracle.oracle_stuck_open == 0,
            f"oracle cells under the defaults do not drive on {d_oracle.oracle_stuck_open} of "
            f"{d_oracle.open_views} views with {OPEN_AHEAD_M} m clear straight ahead"),
        Bar("oracle_bumps", QUALITY, None,
            f"oracle cells under the defaults bump {d_oracle.oracle_bumps} times in "
            f"{d_oracle.views} views (an obstacle beside the front, outside the camera's view, "
            "is not seen by any stateless policy)"),
        Bar("defaults_are_chosen", QUALITY, None,
            f"the defaults ({defaults}) {'are' if defaults == chosen else 'are not'} the "
            f"setting picked on the training gardens ({chosen})"),
    ]
    results = {"train": train, "test": test, "seasons": seasons, "views": n_views,
               "adapters": versions, "seconds": time.perf_counter() - t0, "chosen": chosen,
               "defaults": defaults, "reference": REFERENCE,
               "settings": {setting_name(p): asdict(p) for p in settings},
               "train_all": train_all,
               "test_all": {n: aggregate(tallies, adapters, n, test, seasons).summary()
                            for n in names},
               "by_adapter": {a: {split: {n: aggregate(tallies, [a], n, g, seasons).summary()
                                          for n in names}
                                  for split, g in (("train", train), ("test", test))}
                              for a in adapters},
               "per_season": per_season,
               "per_garden_season": [{"adapter": k[0], "setting": k[1], "garden": k[2],
                                      "season": k[3], **t.summary()}
                                     for k, t in sorted(tallies.items())],
               "bars": [asdict(b) for b in bars]}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    text = report(results)
    (out / "report.md").write_text(text)
    panels = {"train gardens, all seasons, all adapters": train_all,
              "test gardens, all seasons, all adapters": results["test_all"]}
    for a in adapters:
        panels[f"train gardens, all seasons, {a}"] = results["by_adapter"][a]["train"]
    plot(panels, {"picked": chosen, "reference": REFERENCE}, out / "curve.png")
    print(text)
    print(f"wrote {out / 'report.md'}, {out / 'results.json'}, {out / 'curve.png'}")
    return exit_status(bars)
