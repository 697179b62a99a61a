"""The policy: pure functions from what perception saw (and the robot's state) to commands.

Driving (:func:`drive_command`) — the traversability grid is placed on the ground with the
camera model; for a fan of headings, the free distance is how far a robot-wide corridor in that
direction runs over confidently traversable cells. The robot steers toward the most open
heading (free distance beyond "open enough" counts the same; a small penalty per radian of
turn makes equally open headings go to the straightest), slows as the ground straight ahead
runs out, turns on the spot when straight ahead is blocked but another heading is open, and
stops when no heading is open — a deliberate stop that says why.

Unsure ground (confidence below ``min_confidence`` — by default the confidence that a cell can
or cannot be driven on, not which class it is — or novelty above ``max_novelty``) is not
an obstacle by itself: with ``unsure = "creep"`` (the default, chosen from the study in
docs/policy.md) an unsure cell blocks only when enough of its neighbours are confidently not
traversable (the unsure rim of a bed or a stone), and unsure ground in the chosen corridor —
or a low mean confidence — slows the robot to ``creep_speed_mps`` instead of freezing it.
``unsure = "stop"`` is the earlier rule: every unsure cell blocks, a low mean confidence stops.

Watering (:func:`water_command`) — a zone in view and within reach, its soil drier than the
threshold, not watered within the interval, outside quiet hours → ``WaterCommand``.

Safety clamps (:func:`clamp_drive`, :func:`clamp_water`) return what is actually sent and log
whenever they change a command. The firmware enforces its own caps as well.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np

from robot.acting.config import PolicyConfig, WateringConfig, Zone
from robot.common.body import RobotConfig
from robot.common.geometry import CameraModel, world_to_robot
from robot.common.schema import parse_clock_range
from robot.seeing.cells import cell_ground_centres
from robot.seeing.perception import CellMap

log = logging.getLogger(__name__)

# DriveCommand.reason values
CRUISE = "cruise"  # open ground ahead, full speed (maybe steering)
SLOW = "slow"  # open, but the free ground straight ahead is shorter than slow_down_distance_m
TURN = "turn"  # straight ahead is blocked, another heading is open: turn on the spot
STOP_BLOCKED = "stop_blocked"  # no heading has enough traversable ground
CREEP = "creep"  # open, but perception is unsure of the ground ahead: creep_speed_mps at most
STOP_LOW_CONFIDENCE = "stop_low_confidence"  # unsure of the ground ahead (unsure = "stop" only)
STOP_NO_GROUND = "stop_no_ground"  # the camera sees no ground within lookahead (mounting?)
STOP_NO_FRAME = "stop_no_frame"  # for the loop: no usable frame this tick

HEADING_STEP_DEG = 5.0
TURN_PENALTY_M_PER_RAD = 0.2  # a heading must be this much more open per radian to be chosen


@dataclass(frozen=True)
class DriveCommand:
    v_mps: float
    omega_radps: float  # positive turns left (counter-clockwise seen from above)
    ttl_ms: int  # the MCU stops the wheels when a command is this old
    reason: str
    detail: str = ""

    @property
    def is_stop(self) -> bool:
        return self.v_mps == 0.0 and self.omega_radps == 0.0


def stop(reason: str, ttl_ms: int = 300, detail: str = "") -> DriveCommand:
    return DriveCommand(0.0, 0.0, ttl_ms, reason, detail)


@dataclass(frozen=True)
class GroundGrid:
    """Where each grid cell's centre lies on the ground, robot frame (h, w, 2); NaN = sky."""

    xy: np.ndarray

    @classmethod
    def from_camera(cls, camera: CameraModel, grid_hw: tuple[int, int]) -> GroundGrid:
        return cls(cell_ground_centres(camera, grid_hw))


def along_and_across(points: np.ndarray, headings_rad: np.ndarray,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """For (k, 2) robot-frame points, their distance along each heading and across it (left
    positive): two (n_headings, k) arrays."""
    c, s = np.cos(headings_rad)[:, None], np.sin(headings_rad)[:, None]
    x, y = points[None, :, 0], points[None, :, 1]
    return x * c + y * s, -x * s + y * c


def free_distances(
    blocked: np.ndarray, xy: np.ndarray, valid: np.ndarray, headings_rad: np.ndarray,
    half_width_m: float,
) -> np.ndarray:
    """Free distance (from the axle) along each heading through a corridor of half_width_m.

    A heading's corridor runs until its first blocked cell; with none it runs as far as the
    corridor's visible cells reach (nothing is promised about ground the camera does not see).
    A corridor with no visible cell at all has free distance 0.
    """
    b = blocked[valid]
    along, lateral = along_and_across(xy[valid], headings_rad)  # (n_headings, n_cells)
    inside = (np.abs(lateral) <= half_width_m) & (along > 0)
    seen = np.where(inside, along, -np.inf).max(1)
    first_block = np.where(inside & b[None], along, np.inf).min(1)
    free = np.minimum(first_block, seen)
    return np.where(np.isfinite(free) & (free > 0), free, 0.0)


def drive_view(cells: CellMap, policy: PolicyConfig) -> tuple[np.ndarray, np.ndarray]:
    """(traversable, confidence), both (h, w): whether each cell can be driven on and how sure
    perception is of *that* (NaN counts as no confidence).

    With ``sure_of = "traversability"`` and a classifier that gives the traversable mass, the
    confidence is the probability of the more likely side: a cell between lawn and path (the
    edge of every path) is sure ground, one between plant and soil a sure stop. Otherwise it is
    the top class's probability.
    """
    p = cells.traversable_p
    if policy.sure_of == "traversability" and p is not None:
        p = np.nan_to_num(p, nan=0.5)
        return p >= 0.5, np.maximum(p, 1.0 - p)
    return cells.traversable, np.nan_to_num(cells.confidence, nan=0.0)


def unsure_cells(cells: CellMap, policy: PolicyConfig) -> np.ndarray:
    """(h, w) bool: cells perception cannot vouch for — low confidence (:func:`drive_view`),
    or, with ``max_novelty`` > 0, unlike the adapter's training data."""
    unsure = drive_view(cells, policy)[1] < policy.min_confidence
    if policy.max_novelty > 0:
        novelty = np.broadcast_to(np.nan_to_num(cells.novelty, nan=np.inf), cells.grid_hw)
        unsure = unsure | (novelty > policy.max_novelty)
    return unsure


def neighbour_share(mask: np.ndarray) -> np.ndarray:
    """(h, w) float: the share of each cell's 8 neighbours (those inside the grid) in ``mask``."""
    m = np.pad(mask.astype(np.float32), 1)
    inside = np.pad(np.ones(mask.shape, np.float32), 1)
    h, w = mask.shape
    hits = np.zeros(mask.shape, np.float32)
    count = np.zeros(mask.shape, np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                hits += m[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
                count += inside[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    return hits / count


def corridor_mask(xy: np.ndarray, valid: np.ndarray, heading_rad: float, half_width_m: float,
                  max_along_m: float) -> np.ndarray:
    """(h, w) bool: visible cells inside the corridor along ``heading_rad`` up to max_along_m."""
    c, s = math.cos(heading_rad), math.sin(heading_rad)
    with np.errstate(invalid="ignore"):
        along = xy[..., 0] * c + xy[..., 1] * s
        lateral = -xy[..., 0] * s + xy[..., 1] * c
        return valid & (np.abs(lateral) <= half_width_m) & (along > 0) & (along <= max_along_m)


def has_neighbour(mask: np.ndarray) -> np.ndarray:
    """(h, w) bool: cells with at least one of their 8 neighbours also in ``mask``.

    One misclassified cell alone is the commonest perception error (a leaf, a glint); a real
    obstacle near enough to matter covers more than one 16-pixel cell, and one far away is
    seen again, bigger, a few frames later.
    """
    return neighbour_share(mask) > 0


def visible_ground(ground: GroundGrid, lookahead_m: float) -> np.ndarray:
    """(h, w) bool: cells whose centre is ground ahead of the robot within ``lookahead_m``."""
    xy = ground.xy
    dist = np.hypot(xy[..., 0], xy[..., 1])
    with np.errstate(invalid="ignore"):
        return np.isfinite(dist) & (xy[..., 0] > 0) & (dist <= lookahead_m)


def blocked_cells(cells: CellMap, policy: PolicyConfig,
                  unsure: np.ndarray | None = None) -> np.ndarray:
    """(h, w) bool: the cells a corridor must not cross.

    Confidently non-traversable cells always block. With ``unsure = "stop"`` every unsure cell
    blocks (the robot does not drive onto ground it cannot name); with ``"creep"`` an unsure cell
    blocks only where at least ``unsure_block_share`` of its neighbours confidently block — a
    bed's or a stone's unsure rim is part of it, a leafy lawn the adapter hesitates on is not.
    With ``ignore_lone_cells`` a blocking cell with no blocking neighbour does not block.
    ``unsure``: :func:`unsure_cells`, when the caller has it already.
    """
    if unsure is None:
        unsure = unsure_cells(cells, policy)
    hard = ~drive_view(cells, policy)[0] & ~unsure
    if policy.unsure == "stop":
        blocked = hard | unsure
    else:
        share = neighbour_share(hard)
        blocked = hard | (unsure & (share > 0) & (share >= policy.unsure_block_share))
    if policy.ignore_lone_cells:
        blocked &= has_neighbour(blocked)
    if policy.block_square > 1:
        blocked = in_square(blocked, policy.block_square)
    return blocked


def in_square(mask: np.ndarray, k: int) -> np.ndarray:
    """(h, w) bool: cells of ``mask`` that belong to some k×k square of ``mask`` cells (a
    morphological opening): a one-cell-wide line of errors along an edge disappears, anything
    at least k cells thick stays whole."""
    h, w = mask.shape
    if h < k or w < k:
        return np.zeros_like(mask)
    full = np.ones((h - k + 1, w - k + 1), bool)
    for dy in range(k):
        for dx in range(k):
            full &= mask[dy:dy + h - k + 1, dx:dx + w - k + 1]
    out = np.zeros_like(mask)
    for dy in range(k):
        for dx in range(k):
            out[dy:dy + h - k + 1, dx:dx + w - k + 1] |= full
    return out


def first_contact(points: np.ndarray, headings_rad: np.ndarray,
                  half_width_m: float) -> np.ndarray:
    """Along each heading, the distance to the first of ``points`` (robot frame, (k, 2)) in
    the corridor of half_width_m; inf where none is."""
    if len(points) == 0:
        return np.full(len(headings_rad), np.inf)
    along, lateral = along_and_across(points, headings_rad)
    inside = (np.abs(lateral) <= half_width_m) & (along > 0)
    return np.where(inside, along, np.inf).min(1)


def drive_command(
    cells: CellMap, ground: GroundGrid, policy: PolicyConfig, robot: RobotConfig,
    remembered: np.ndarray | None = None,
) -> DriveCommand:
    """The drive command for one perceived frame. Pure: same inputs, same command out.

    ``remembered``: (k, 2) robot-frame ground points seen blocked earlier and out of view now
    (robot/acting/memory.py); they block as a blocked cell does.
    """
    ttl = policy.command_ttl_ms
    xy = ground.xy
    if xy.shape[:2] != cells.grid_hw:
        raise ValueError(f"ground grid {xy.shape[:2]} does not match cell grid {cells.grid_hw}")
    valid = visible_ground(ground, policy.lookahead_m)
    if not valid.any():
        return stop(STOP_NO_GROUND, ttl, f"no ground within {policy.lookahead_m} m in view")

    mean_conf = float(drive_view(cells, policy)[1][valid].mean())
    low_mean = mean_conf < policy.min_confidence
    if low_mean and policy.unsure == "stop":
        return stop(STOP_LOW_CONFIDENCE, ttl,
                    f"mean confidence {mean_conf:.2f} < {policy.min_confidence:.2f}")

    unsure = unsure_cells(cells, policy)
    blocked = blocked_cells(cells, policy, unsure)
    max_h = math.radians(policy.max_heading_deg)
    n = 2 * math.floor(policy.max_heading_deg / HEADING_STEP_DEG) + 1
    headings = np.linspace(-max_h, max_h, n) if n > 1 else np.zeros(1)
    half_width = robot.width_m / 2 + policy.clearance_m
    free = free_distances(blocked, xy, valid, headings, half_width)
    if remembered is not None and len(remembered):
        free = np.minimum(free, first_contact(np.asarray(remembered, float), headings,
                                              half_width))
    free = np.maximum(free - robot.front_m, 0.0)  # from the bumper
    # Beyond "open enough" more free ground does not make a heading better: far cells are few
    # and coarse, and their quantisation must not pull the robot off a clear straight line.
    open_enough = 0.5 * (policy.slow_down_distance_m + policy.lookahead_m - robot.front_m)
    score = np.minimum(free, open_enough) - TURN_PENALTY_M_PER_RAD * np.abs(headings)
    ties = np.flatnonzero(score >= score.max() - 1e-9)
    best = int(ties[np.argmin(np.abs(headings[ties]))])  # equally open: the straightest
    heading, free_best = float(headings[best]), float(free[best])
    free_ahead = float(free[n // 2])
    where = f"free {free_best:.2f} m at {math.degrees(heading):+.0f}°, ahead {free_ahead:.2f} m"

    if free_best < policy.stop_distance_m:
        return stop(STOP_BLOCKED, ttl, where)
    omega = float(np.clip(policy.steer_gain * heading, -policy.max_omega_radps,
                          policy.max_omega_radps))
    if free_ahead < policy.stop_distance_m:
        return DriveCommand(0.0, omega, ttl, TURN, where)
    span = policy.slow_down_distance_m - policy.stop_distance_m
    factor = min(1.0, (free_ahead - policy.stop_distance_m) / span)
    v = policy.max_speed_mps * factor * math.cos(heading)
    if v < policy.min_speed_mps:
        # Creeping ever slower toward the stop distance gets nowhere: turn to the best heading,
        # or, when that is straight ahead, the way is as good as blocked.
        if abs(omega) > 1e-3:
            return DriveCommand(0.0, omega, ttl, TURN, where)
        return stop(STOP_BLOCKED, ttl, where + f"; speed {v:.3f} m/s < min_speed_mps")
    if policy.unsure == "creep" and v > policy.creep_speed_mps:
        # unsure ground the robot is about to cross: slow enough to stop on the next frame's
        # better look, not so slow that a hesitant adapter freezes the robot (docs/policy.md)
        reach = robot.front_m + min(policy.creep_distance_m, free_best)
        ahead = unsure & corridor_mask(xy, valid, heading, half_width, reach)
        if policy.ignore_lone_cells:
            ahead &= has_neighbour(unsure)
        near = int(ahead.sum())
        why = ([f"{near} unsure cells within {policy.creep_distance_m:.1f} m"]
               if near >= policy.creep_min_cells else []) + (
            [f"mean confidence {mean_conf:.2f} < {policy.min_confidence:.2f}"] if low_mean else [])
        if why:
            return DriveCommand(policy.creep_speed_mps, omega, ttl, CREEP,
                                "; ".join([where, *why]))
    return DriveCommand(v, omega, ttl, CRUISE if factor >= 1.0 else SLOW, where)


# --- watering ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WaterCommand:
    zone: int
    duration_ms: int
    reason: str = ""


def in_quiet_hours(at: time, quiet_hours: str) -> bool:
    """Whether local time ``at`` falls in "HH:MM-HH:MM" (start inclusive, end exclusive)."""
    span = parse_clock_range(quiet_hours)
    if span is None:
        return False
    start, end = time(*span[0]), time(*span[1])
    at = at.replace(tzinfo=None)
    if start <= end:
        return start <= at < end
    return at >= start or at < end  # wraps midnight


def zone_in_view(zone: Zone, pose: tuple[float, float, float], camera: CameraModel,
                 reach_m: float) -> bool:
    """Zone within reach of the robot and some of it inside the camera's image."""
    centre = world_to_robot(np.array([zone.x_m, zone.y_m]), pose)
    if float(np.hypot(*centre)) > reach_m:
        return False
    a = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    ring = np.stack([zone.x_m + zone.radius_m * np.cos(a), zone.y_m + zone.radius_m * np.sin(a)],
                    axis=-1)
    pts = world_to_robot(np.vstack([[zone.x_m, zone.y_m], ring]), pose)
    uv, depth = camera.ground_to_pixels(pts)
    with np.errstate(invalid="ignore"):
        inside = ((depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < camera.width) & (uv[:, 1] >= 0)
                  & (uv[:, 1] < camera.height))
    return bool(inside.any())


def why_not_water(
    zone: Zone, pose: tuple[float, float, float], camera: CameraModel, moisture: float | None,
    last_watered: datetime | None, now: datetime, cfg: WateringConfig,
) -> str | None:
    """None if ``zone`` should be watered now, else the first rule that says no."""
    if in_quiet_hours(now.time(), cfg.quiet_hours):
        return f"quiet hours ({cfg.quiet_hours})"
    if not zone_in_view(zone, pose, camera, cfg.reach_m):
        return "not in view"
    if moisture is None or not math.isfinite(moisture):
        return "moisture unknown"
    if moisture >= cfg.moisture_threshold:
        return f"moist enough ({moisture:.2f} >= {cfg.moisture_threshold:.2f})"
    if last_watered is not None:
        since = now - last_watered
        if since < timedelta(hours=cfg.interval_h):
            return f"watered {since.total_seconds() / 3600:.1f} h ago (< {cfg.interval_h} h)"
    return None


def water_command(
    zones: Iterable[Zone], pose: tuple[float, float, float], camera: CameraModel,
    moisture: Mapping[int, float], last_watered: Mapping[int, datetime], now: datetime,
    cfg: WateringConfig,
) -> WaterCommand | None:
    """Water the driest zone that passes every rule, or nothing.

    ``moisture`` and ``last_watered`` are keyed by zone id; ``now`` is local time (the same
    clock as ``last_watered``; the loop passes simulated time when replaying).
    """
    best: tuple[float, Zone] | None = None
    for z in zones:
        m = moisture.get(z.id)
        why = why_not_water(z, pose, camera, m, last_watered.get(z.id), now, cfg)
        if why is None and m is not None and (best is None or m < best[0]):
            best = (m, z)
        elif why is not None:
            log.debug("zone %d: not watering: %s", z.id, why)
    if best is None:
        return None
    m, z = best
    return WaterCommand(z.id, cfg.duration_ms,
                        f"moisture {m:.2f} < {cfg.moisture_threshold:.2f}")


def zones_from_meta(extra: Mapping[str, Any]) -> tuple[Zone, ...]:
    """Watering zones from a recording's ``meta.extra["zones"]``: [{id, x_m, y_m, radius_m}]."""
    raw = extra.get("zones") or []
    if not isinstance(raw, list):
        raise ValueError("meta.json extra.zones must be a list")
    zones = []
    for i, z in enumerate(raw):
        try:
            zones.append(Zone(int(z["id"]), float(z["x_m"]), float(z["y_m"]),
                              float(z.get("radius_m", 0.3))))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"meta.json extra.zones[{i}] is not a zone "
                             f"{{id, x_m, y_m, radius_m}}: {e!r}") from e
    return tuple(zones)


# --- safety clamps -------------------------------------------------------------------------------

def clamp_drive(cmd: DriveCommand, max_v_mps: float, max_omega_radps: float,
                max_ttl_ms: int = 1000) -> DriveCommand:
    """The command as it may be sent: speeds and lifetime within limits, never NaN.

    A non-finite speed becomes a stop. Every change is logged (WARNING): a clamp firing means a
    bug or a bad config upstream, and should be seen.
    """
    if not (math.isfinite(cmd.v_mps) and math.isfinite(cmd.omega_radps)):
        log.warning("drive command %r has a non-finite speed; sending a stop instead", cmd)
        return replace(cmd, v_mps=0.0, omega_radps=0.0, reason=f"{cmd.reason}+clamped",
                       ttl_ms=min(max(cmd.ttl_ms, 0), max_ttl_ms))
    v = min(max(cmd.v_mps, -max_v_mps), max_v_mps)
    w = min(max(cmd.omega_radps, -max_omega_radps), max_omega_radps)
    ttl = min(max(int(cmd.ttl_ms), 0), max_ttl_ms)
    if (v, w, ttl) == (cmd.v_mps, cmd.omega_radps, cmd.ttl_ms):
        return cmd
    log.warning("drive command clamped: v %.3f → %.3f m/s, ω %.3f → %.3f rad/s, ttl %d → %d ms",
                cmd.v_mps, v, cmd.omega_radps, w, cmd.ttl_ms, ttl)
    return replace(cmd, v_mps=v, omega_radps=w, ttl_ms=ttl, reason=f"{cmd.reason}+clamped")


def clamp_water(cmd: WaterCommand, max_duration_ms: int) -> WaterCommand:
    """The watering as it may be sent: 0 ≤ duration ≤ max_duration_ms (logged when changed)."""
    d = min(max(int(cmd.duration_ms), 0), max_duration_ms)
    if d == cmd.duration_ms:
        return cmd
    log.warning("water command for zone %d clamped: %d → %d ms", cmd.zone, cmd.duration_ms, d)
    return replace(cmd, duration_ms=d, reason=f"{cmd.reason}+clamped")
