"""Experience labels: what the robot felt, projected back onto what it saw ("near-to-far").

Telemetry says what the ground was like where the robot *is*: the bumper hit something, the
wheels slipped or stalled, the wheels rolled smoothly, the moisture probe read dry or wet. With
odometry, the ground patch concerned (a "footprint" in world coordinates) is projected into the
frames taken *earlier*, when the camera saw that patch from a distance; the grid cells whose
ground it covers get a label with ``source="experience"``. See docs/experience.md.

Everything here is a pure function over (frame times, poses, telemetry events, camera):

    track  = PoseTrack.from_telemetry(records)
    events = events_from_telemetry(records, classes, robot_cfg, exp_cfg, dry_below)
    labels = experience_labels(frame_times, track, events, camera, grid_hw, exp_cfg)

Traversability is a *set* label: "traversable" means the cell is one of {lawn, path} without
saying which, "not traversable" one of the other classes. Each label carries that set
(``allowed``) and, when the set has one class only (a bumper hit → obstacle), that class as
``label``; otherwise ``label`` is 255 and a learner either uses the set (a partial-label loss)
or :func:`resolve_label` turns it into a class by confirming the adapter's own prediction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot.common.body import RobotConfig
from robot.common.classes import UNLABELLED, traversable_ids
from robot.common.geometry import CameraModel
from robot.learning.config import ExperienceConfig
from robot.seeing.cells import cell_ground_samples

log = logging.getLogger(__name__)

OBSTACLE = "obstacle"  # bumper hit: the ground just ahead of the bumper holds an obstacle
NOT_TRAVERSABLE = "not_traversable"  # slip (under the wheels) or stall (ahead of the bumper)
TRAVERSABLE_KIND = "traversable"  # the wheels rolled over it smoothly
DRY, WET = "dry", "wet"  # the moisture probe's reading where it touched the ground
SOURCE = "experience"
SAMPLES_PER_CELL_SIDE = 8  # an 8 × 8 lattice of ground points estimates a cell's coverage


@dataclass(frozen=True)
class PoseTrack:
    """Odometry poses over time; ``theta`` is unwrapped so it interpolates across ±π."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    theta: np.ndarray

    @classmethod
    def from_telemetry(cls, records: Iterable[Mapping[str, Any]]) -> PoseTrack:
        """Poses from records carrying ``t``, ``x_m``, ``y_m``, ``theta_rad``; others skipped."""
        rows = []
        for r in records:
            try:
                row = (float(r["t"]), float(r["x_m"]), float(r["y_m"]), float(r["theta_rad"]))
            except (KeyError, TypeError, ValueError):
                continue
            if all(math.isfinite(v) for v in row):
                rows.append(row)
        if not rows:
            return cls(*(np.zeros(0) for _ in range(4)))
        a = np.asarray(rows, np.float64)
        order = np.argsort(a[:, 0], kind="stable")
        a = a[order]
        return cls(a[:, 0], a[:, 1], a[:, 2], np.unwrap(a[:, 3]))

    def __len__(self) -> int:
        return len(self.t)

    def at(self, t: float | np.ndarray) -> np.ndarray:
        """Interpolated pose(s) (..., 3) = (x, y, theta); NaN outside the track's time span."""
        t = np.asarray(t, np.float64)
        if len(self.t) == 0:
            return np.full((*t.shape, 3), np.nan)
        out = np.stack([np.interp(t, self.t, v) for v in (self.x, self.y, self.theta)], axis=-1)
        outside = (t < self.t[0]) | (t > self.t[-1])
        out[outside] = np.nan
        return out

    def distance(self) -> np.ndarray:
        """Cumulative distance travelled at each sample, metres."""
        step = np.hypot(np.diff(self.x), np.diff(self.y))
        return np.concatenate([[0.0], np.cumsum(step)])

    def speed(self) -> np.ndarray:
        """Speed at each sample (central differences), m/s."""
        if len(self.t) < 2:
            return np.zeros(len(self.t))
        d = self.distance()
        return np.abs(np.gradient(d, self.t))


@dataclass(frozen=True)
class GroundEvent:
    """A rectangle of ground in world coordinates and what the robot learned about it."""

    t: float
    kind: str
    allowed: tuple[int, ...]  # class ids the ground can be; () = says nothing about the class
    centre_xy: tuple[float, float]
    heading_rad: float
    half_extent_m: tuple[float, float]  # half length along the heading, half width across
    value: float | None = None  # the moisture reading for dry/wet

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """(…) bool: world points (…, 2) inside the rectangle (NaN points are outside)."""
        c, s = math.cos(self.heading_rad), math.sin(self.heading_rad)
        dx, dy = xy[..., 0] - self.centre_xy[0], xy[..., 1] - self.centre_xy[1]
        along, across = c * dx + s * dy, -s * dx + c * dy
        with np.errstate(invalid="ignore"):
            return (np.abs(along) <= self.half_extent_m[0]) & (
                np.abs(across) <= self.half_extent_m[1])


@dataclass(frozen=True)
class ExperienceLabel:
    frame: int
    row: int
    col: int
    label: int  # the class id when ``allowed`` holds exactly one class, else 255
    allowed: tuple[int, ...]
    kind: str
    coverage: float  # share of the cell's ground inside the footprint
    t_event: float
    value: float | None = None
    source: str = SOURCE


def resolve_label(lbl: ExperienceLabel, predicted: int) -> int:
    """A class id for a set label: the adapter's prediction if the set allows it, else 255.

    This is how "traversable" becomes lawn or path: experience confirms which of the two the
    adapter already sees; it never picks one on its own.
    """
    if lbl.label != UNLABELLED:
        return lbl.label
    return predicted if predicted in lbl.allowed else UNLABELLED


def class_sets(classes: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Allowed class ids for each experience kind, under a recording's or adapter's class map."""
    trav = traversable_ids(tuple(classes))
    other = tuple(i for i in range(len(classes)) if i not in trav)
    obstacle = tuple(i for i, c in enumerate(classes) if c == "obstacle")
    return {OBSTACLE: obstacle or other, NOT_TRAVERSABLE: other, TRAVERSABLE_KIND: trav,
            DRY: (), WET: ()}


# --- telemetry → ground events --------------------------------------------------------------------

def _flag(r: Mapping[str, Any], key: str) -> bool:
    return bool(r.get(key))


def _number(r: Mapping[str, Any], key: str) -> float | None:
    v = r.get(key)
    if isinstance(v, (list, tuple)):  # one reading per probe: the first probe is the one used
        v = v[0] if v else None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def events_from_telemetry(
    records: Sequence[Mapping[str, Any]], classes: Sequence[str], robot: RobotConfig,
    cfg: ExperienceConfig, dry_below: float = 0.3, track: PoseTrack | None = None,
) -> list[GroundEvent]:
    """Ground events from telemetry records (fields in docs/experience.md), in time order."""
    track = PoseTrack.from_telemetry(records) if track is None else track
    if len(track) < 2:
        return []
    sets = class_sets(classes)
    recs = [r for r in records if isinstance(r.get("t"), (int, float))]
    recs.sort(key=lambda r: r["t"])
    times = np.array([float(r["t"]) for r in recs])
    bump = np.array([_flag(r, "bumper") for r in recs], bool)
    stall = np.array([_flag(r, "stall") for r in recs], bool)
    slip = np.array([(_number(r, "slip" if "slip" in r else "wheel_slip") or 0.0)
                     > cfg.slip_threshold for r in recs], bool)
    # Wheels spinning while the bumper is pressed: the robot pushes against something, and the
    # slip says nothing about the ground under the wheels (the bump itself is the evidence).
    slip &= ~bump
    poses = track.at(times)
    dist = np.interp(times, track.t, track.distance())
    events: list[GroundEvent] = []

    def rect(i: int, x0: float, x1: float, kind: str, width_m: float = robot.width_m) -> None:
        """The robot-frame strip x0..x1 (``width_m`` wide, centred) at sample i, as a world
        event."""
        x, y, th = poses[i]
        if not np.isfinite(x):
            return
        mid = (x0 + x1) / 2
        centre = (x + mid * math.cos(th), y + mid * math.sin(th))
        allowed = sets[kind]
        events.append(GroundEvent(float(times[i]), kind, allowed, centre, float(th),
                                  ((x1 - x0) / 2, width_m / 2), None))

    front0, front1 = robot.front_m, robot.front_m + cfg.obstacle_depth_m
    wheel = cfg.wheel_patch_m / 2
    # A bumper touches a round or narrow thing at one point: the ground ahead of its middle is
    # far more often the obstacle than the ground ahead of its ends (docs/experience.md).
    ahead_w = cfg.obstacle_width_m or robot.width_m
    for i in _rising_edges(bump):
        if sets[OBSTACLE]:
            rect(i, front0, front1, OBSTACLE, ahead_w)
    for i in _rising_edges(stall):
        rect(i, front0, front1, NOT_TRAVERSABLE, ahead_w)
    if cfg.slip_labels:
        for i in _within_runs(slip, dist, cfg.sample_spacing_m, wheel, stuck=True):
            rect(i, -wheel, wheel, NOT_TRAVERSABLE)

    bad_t = times[bump | stall | slip]
    speed = np.interp(times, track.t, track.speed())
    smooth = speed >= cfg.min_speed_mps
    if len(bad_t):
        lo = np.searchsorted(bad_t, times - cfg.quiet_window_s, side="left")
        hi = np.searchsorted(bad_t, times + cfg.quiet_window_s, side="right")
        smooth &= hi == lo
    for i in _within_runs(smooth, dist, cfg.sample_spacing_m, wheel, stuck=False):
        rect(i, -wheel, wheel, TRAVERSABLE_KIND)

    moist = np.array([_number(r, "moisture") is not None
                      and ("probe_down" not in r or _flag(r, "probe_down")) for r in recs], bool)
    for i in _thinned(moist, dist, cfg.sample_spacing_m):
        m = _number(recs[i], "moisture")
        assert m is not None
        p0, p1 = cfg.probe_x_m - cfg.probe_radius_m, cfg.probe_x_m + cfg.probe_radius_m
        x, y, th = poses[i]
        if np.isfinite(x):
            centre = (x + cfg.probe_x_m * math.cos(th), y + cfg.probe_x_m * math.sin(th))
            events.append(GroundEvent(float(times[i]), DRY if m < dry_below else WET, (), centre,
                                      float(th), ((p1 - p0) / 2, cfg.probe_radius_m), m))
    events.sort(key=lambda e: e.t)
    return events


def _rising_edges(flag: np.ndarray) -> np.ndarray:
    prev = np.concatenate([[False], flag[:-1]])
    return np.flatnonzero(flag & ~prev)


def _runs(flag: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) sample index of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flag.astype(np.int8), [0]])))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _within_runs(flag: np.ndarray, dist: np.ndarray, spacing_m: float, margin_m: float,
                 stuck: bool) -> list[int]:
    """Samples inside runs of ``flag``, ``spacing_m`` of travel apart, whose strip fits the run.

    A strip reaching ``margin_m`` either side of the wheels is labelled only where the whole
    strip was driven over while ``flag`` held — so the first and last few centimetres of a run
    (the edge of a mud patch) are not claimed. A run too short for that (the robot stuck and
    spinning) gives its middle sample when ``stuck`` is set, else nothing.
    """
    out: list[int] = []
    for a, b in _runs(flag):
        d0, d1 = dist[a] + margin_m, dist[b] - margin_m
        if d1 < d0:
            if stuck:
                out.append((a + b) // 2)
            continue
        last = -math.inf
        for i in range(a, b + 1):
            if d0 <= dist[i] <= d1 and dist[i] - last >= spacing_m:
                out.append(i)
                last = dist[i]
    return out


def _thinned(flag: np.ndarray, dist: np.ndarray, spacing_m: float) -> list[int]:
    """Samples where ``flag`` holds, at least ``spacing_m`` of travel apart (first one kept)."""
    out: list[int] = []
    last = -math.inf
    for i in np.flatnonzero(flag):
        if not out or dist[i] - last >= spacing_m:
            out.append(int(i))
            last = dist[i]
    return out


# --- events → labels on earlier frames ------------------------------------------------------------

def experience_labels(
    frame_times: Sequence[float] | np.ndarray, track: PoseTrack, events: Sequence[GroundEvent],
    camera: CameraModel, grid_hw: tuple[int, int], cfg: ExperienceConfig,
) -> list[ExperienceLabel]:
    """Labels for the cells of earlier frames whose ground an event's footprint covers.

    A frame at time t_f receives events with ``min_gap_s ≤ t_event − t_f ≤ horizon_s``; a cell
    is labelled when at least ``min_coverage`` of its ground lies inside the footprint. Cells
    that two events label with incompatible class sets (traversable and obstacle) are dropped;
    compatible ones keep the narrower set (obstacle within not-traversable).
    """
    frame_times = np.asarray(frame_times, np.float64)
    if not len(events) or not len(frame_times) or len(track) < 2:
        return []
    samples = cell_ground_samples(camera, grid_hw, SAMPLES_PER_CELL_SIDE)  # (h, w, S, 2)
    ground = np.isfinite(samples).all(-1).any(-1)  # (h, w): cells that see some ground
    if not ground.any():
        return []
    rows, cols = np.nonzero(ground)
    samples = samples[ground]  # (n, S, 2)
    # Only cells near an event can be covered by it: a cell's ground lies within ``reach`` of
    # its mean point. This cheap test skips most (cell, event) pairs.
    mid = np.nanmean(samples, axis=1)
    reach = np.nanmax(np.linalg.norm(samples - mid[:, None], axis=-1), axis=1)
    ev_t = np.array([e.t for e in events])
    poses = track.at(frame_times)
    out: list[ExperienceLabel] = []
    conflicts = 0
    for f, (t_f, pose) in enumerate(zip(frame_times, poses, strict=True)):
        if not np.isfinite(pose).all():
            continue
        lo = np.searchsorted(ev_t, t_f + cfg.min_gap_s, side="left")
        hi = np.searchsorted(ev_t, t_f + cfg.horizon_s, side="right")
        if lo >= hi:
            continue
        mid_world = _to_world(mid, pose)
        cells: dict[tuple[int, int], ExperienceLabel | None] = {}  # None: a conflict
        moisture: dict[tuple[int, int], ExperienceLabel] = {}  # the latest reading per cell
        for e in events[lo:hi]:
            near = np.flatnonzero(np.hypot(mid_world[:, 0] - e.centre_xy[0],
                                           mid_world[:, 1] - e.centre_xy[1])
                                  <= reach + math.hypot(*e.half_extent_m))
            if not len(near):
                continue
            # share of each nearby cell's ground inside the footprint (NaN samples: outside)
            coverage = e.contains(_to_world(samples[near], pose)).mean(-1)
            for j in np.flatnonzero(coverage >= cfg.min_coverage):
                key = (int(rows[near[j]]), int(cols[near[j]]))
                lbl = ExperienceLabel(f, key[0], key[1],
                                      e.allowed[0] if len(e.allowed) == 1 else UNLABELLED,
                                      e.allowed, e.kind, float(coverage[j]), e.t, e.value)
                if not e.allowed:
                    moisture[key] = lbl
                elif key not in cells:
                    cells[key] = lbl
                else:
                    cells[key] = _merge(cells[key], lbl)
        conflicts += sum(lb is None for lb in cells.values())
        out.extend(lb for lb in cells.values() if lb is not None)
        out.extend(moisture.values())
    if conflicts:
        log.debug("experience: %d cells dropped for conflicting labels", conflicts)
    return out


def _merge(old: ExperienceLabel | None, new: ExperienceLabel) -> ExperienceLabel | None:
    """Two labels for one cell: the narrower compatible one, or None when they contradict."""
    if old is None:
        return None  # once contradicted, a cell stays unlabelled
    both = tuple(sorted(set(old.allowed) & set(new.allowed)))
    if not both:
        return None
    # the narrower set wins (obstacle ⊂ not traversable); equal sets keep the better coverage
    pick = min((old, new), key=lambda lb: (len(lb.allowed), -lb.coverage))
    if pick.allowed == both:
        return pick
    return ExperienceLabel(pick.frame, pick.row, pick.col,
                           both[0] if len(both) == 1 else UNLABELLED, both, pick.kind,
                           pick.coverage, pick.t_event, pick.value)


def _to_world(robot_xy: np.ndarray, pose: np.ndarray) -> np.ndarray:
    x, y, th = pose
    c, s = math.cos(th), math.sin(th)
    return np.stack([x + c * robot_xy[..., 0] - s * robot_xy[..., 1],
                     y + s * robot_xy[..., 0] + c * robot_xy[..., 1]], axis=-1)


# --- recordings -----------------------------------------------------------------------------------

def labels_for_recording(
    recording: Any, grid_hw: tuple[int, int] | None = None, cfg: ExperienceConfig | None = None,
    robot: RobotConfig | None = None, dry_below: float = 0.3,
) -> list[ExperienceLabel]:
    """Experience labels for every frame of a recording (a Recording or its folder)."""
    from robot.seeing.recording import Recording

    rec = recording if isinstance(recording, Recording) else Recording(recording)
    cfg = cfg or ExperienceConfig()
    robot = robot or RobotConfig()
    grid_hw = grid_hw or default_grid(rec.meta.width, rec.meta.height)
    records = rec.telemetry()
    track = PoseTrack.from_telemetry(records)
    events = events_from_telemetry(records, rec.meta.classes, robot, cfg, dry_below, track)
    return experience_labels(rec.frame_times, track, events, rec.meta.camera, grid_hw, cfg)


def default_grid(width: int, height: int, stride: int = 16) -> tuple[int, int]:
    return height // stride, width // stride


def measure_precision(
    recording: Any, grid_hw: tuple[int, int] | None = None, cfg: ExperienceConfig | None = None,
    robot: RobotConfig | None = None, dry_below: float = 0.3, min_purity: float = 0.6,
) -> dict[str, Any]:
    """How often experience labels agree with a recording's label maps, per kind and overall.

    A label is checked on frames that have a label map, against the cell's majority class
    (``robot.seeing.labels.cell_labels``; mixed cells below ``min_purity`` are not checked); it is
    correct when that class is in the label's allowed set. dry/wet labels say nothing about the
    class and are only counted.
    """
    from robot.seeing.labels import cell_labels
    from robot.seeing.recording import Recording

    rec = recording if isinstance(recording, Recording) else Recording(recording)
    grid_hw = grid_hw or default_grid(rec.meta.width, rec.meta.height)
    labels = labels_for_recording(rec, grid_hw, cfg, robot, dry_below)
    k = len(rec.meta.classes)
    truth_cache: dict[int, np.ndarray | None] = {}
    per: dict[str, dict[str, Any]] = {}
    for lb in labels:
        s = per.setdefault(lb.kind, {"labels": 0, "checked": 0, "correct": 0})
        s["labels"] += 1
        if not lb.allowed:
            continue
        if lb.frame not in truth_cache:
            m = rec.labels(lb.frame)
            truth_cache[lb.frame] = None if m is None else cell_labels(m, grid_hw, k, min_purity)
        truth = truth_cache[lb.frame]
        if truth is None or truth[lb.row, lb.col] == UNLABELLED:
            continue
        s["checked"] += 1
        s["correct"] += int(truth[lb.row, lb.col] in lb.allowed)
    for s in per.values():
        s["precision"] = s["correct"] / s["checked"] if s["checked"] else None
    checked = sum(s["checked"] for s in per.values())
    correct = sum(s["correct"] for s in per.values())
    return {
        "recording": str(rec.path),
        "grid": list(grid_hw),
        "frames": len(rec),
        "frames_labelled": len({lb.frame for lb in labels}),
        "labels": len(labels),
        "checked": checked,
        "precision": correct / checked if checked else None,
        "per_kind": per,
    }
