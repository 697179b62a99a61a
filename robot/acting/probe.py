"""Probing: drive a short way onto ground the adapter cannot vouch for, and let the wheels say.

In a new season the adapter can be *confidently* wrong: it calls leaf-covered autumn lawn soil or
plant, the policy sees no open heading, the robot stops — and a robot that never drives gathers
no experience labels to correct the adapter with (docs/policy.md, "What a policy rule cannot
fix"). A probe breaks that circle. When the policy stops because the way straight ahead is
blocked, and (nearly) every cell that blocks it — at least ``[probe] min_share`` of them — is
unsure (confidence below ``[policy] min_confidence``) or novel (the adapter's novelty above
``[probe] min_novelty``), the robot creeps straight ahead at ``speed_mps`` for
``distance_m``, with the bumper as the safety:

- the wheels roll the whole distance → ``smooth``: the experience labels (robot/learning/
  experience.py) mark the driven ground traversable;
- the bumper closes → ``bump``: the bump reflex takes over, the ground ahead is labelled obstacle;
- the motors stall, or the robot does not get there in twice the time it should → ``stall`` /
  ``stuck``: not traversable (a stall is labelled by the experience labels; "stuck" is logged).

Never a probe when the corridor holds a confident, familiar obstacle (the class "obstacle" at or
above ``min_confidence`` and not novel), when such an obstacle seen a moment ago and out of view
now lies in it (the prober's own obstacle memory, robot/acting/memory.py, of familiar obstacles
only: the policy's memory also keeps the confident "obstacles" of a novel scene — autumn lawn —
and, measured on g07 autumn, left 2 probes in 30 s instead of 5), when the swept
ground comes within ``zone_margin_m`` of a watering zone (a bed is never driven into), without a
pose, or sooner than ``interval_s`` after the previous probe ended. Every probe is logged (start,
reason, cells, outcome) and kept in :attr:`Prober.log`; :meth:`Prober.source_at` tells the
experience labels which of their events came from a probe (``source="probe"``), so the labels'
precision is measured separately.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from robot.acting.config import PolicyConfig, ProbeConfig, Zone
from robot.acting.memory import ObstacleMemory
from robot.acting.policy import (
    STOP_BLOCKED,
    DriveCommand,
    GroundGrid,
    blocked_cells,
    corridor_mask,
    first_contact,
    unsure_cells,
    visible_ground,
)
from robot.common.body import RobotConfig
from robot.common.geometry import CameraModel, world_to_robot
from robot.seeing.perception import CellMap

log = logging.getLogger(__name__)

PROBE = "probe"  # DriveCommand.reason while a probe drives
SMOOTH, BUMP, STALL, STUCK = "smooth", "bump", "stall", "stuck"  # how a probe ended
INTERRUPTED = "interrupted"  # the odometry was reset under it (a new segment: see reset)
TIMEOUT_FACTOR = 2.0  # a probe not done in this many times its nominal time is "stuck"
TIMEOUT_EXTRA_S = 1.0  # ... plus this (the wheels take a moment to start)
LABEL_GRACE_S = 0.3  # a bump or stall this soon after a probe ended is still its outcome
BUMPED_MARGIN_M = 0.2  # no probe whose sweep ends this close to where a probe bumped


@dataclass
class ProbeRecord:
    """One probe as it went (loop time, odometry frame)."""

    start_t: float
    start_pose: tuple[float, float, float]
    reason: str  # why it probed: what blocked and how sure the adapter was
    cells: int  # blocking cells in the probed corridor (>= min_share of them unsure or novel)
    classes: dict[str, int]  # the adapter's classes of those cells
    end_t: float | None = None
    outcome: str | None = None  # SMOOTH, BUMP, STALL, STUCK
    distance_m: float = 0.0


@dataclass
class Prober:
    """The probing state between frames; :meth:`command` is called once per frame."""

    cfg: ProbeConfig
    log: list[ProbeRecord] = field(default_factory=list)
    declined: Counter[str] = field(default_factory=Counter)  # blocked, and why no probe
    memory: ObstacleMemory = field(default_factory=lambda: ObstacleMemory(min_votes=5))
    # where probes bumped (odometry frame): whatever the adapter thinks of that ground later,
    # the bumper has spoken — a probe never heads there again (found: probing a fence over
    # and over, each time the adapter found it novel)
    bumped: list[tuple[float, float]] = field(default_factory=list)
    _next_t: float = -math.inf

    @property
    def active(self) -> ProbeRecord | None:
        last = self.log[-1] if self.log else None
        return last if last is not None and last.outcome is None else None

    def command(
        self, t: float, cells: CellMap, ground: GroundGrid, camera: CameraModel,
        decision: DriveCommand, policy: PolicyConfig, robot: RobotConfig,
        pose: tuple[float, float, float] | None, zones: Sequence[Zone], bumper: bool,
        stall: bool,
    ) -> DriveCommand | None:
        """The probe's drive command at loop time ``t``, or None (the policy drives).

        ``decision``: the policy's own command this frame; ``pose``: odometry (world frame of
        ``zones``); ``bumper`` / ``stall``: the latest telemetry.
        """
        remembered = None
        if self.cfg.enabled and pose is not None:
            visible = visible_ground(ground, policy.lookahead_m)
            self.memory.update(t, pose, ground.xy[self.familiar_obstacles(cells, policy)
                                                  & visible])
            remembered = self.memory.blocked_out_of_view(t, pose, camera)
        probe = self.active
        if probe is not None:
            return self._continue(probe, t, policy, robot, pose, bumper, stall)
        if not self.cfg.enabled or decision.reason != STOP_BLOCKED:
            return None
        if t < self._next_t:
            self.declined["interval"] += 1
            return None
        found = self.eligible(cells, ground, policy, robot, pose, zones, remembered)
        if isinstance(found, str):
            self.declined[found] += 1
            return None
        assert pose is not None
        record = ProbeRecord(t, pose, *found)
        self.log.append(record)
        log.info("probe %d at t=%.1f s from (%.2f, %.2f, %.0f°): %s", len(self.log), t,
                 pose[0], pose[1], math.degrees(pose[2]), record.reason)
        return self._drive(record, policy)

    def eligible(
        self, cells: CellMap, ground: GroundGrid, policy: PolicyConfig, robot: RobotConfig,
        pose: tuple[float, float, float] | None, zones: Sequence[Zone],
        remembered: np.ndarray | None,
    ) -> tuple[str, int, dict[str, int]] | str:
        """(why to probe, blocking cells, their classes), or why not (a short phrase)."""
        if pose is None:
            return "no pose"
        half_width = robot.width_m / 2 + policy.clearance_m
        reach = robot.front_m + self.cfg.distance_m
        if remembered is not None and len(remembered) and \
                first_contact(np.asarray(remembered, float), np.zeros(1), half_width)[0] <= reach:
            return "remembered obstacle"
        if self.bumped and first_contact(world_to_robot(np.asarray(self.bumped, float), pose),
                                         np.zeros(1), half_width)[0] <= reach + BUMPED_MARGIN_M:
            return "a probe bumped there"
        if any(_rect_meets_circle(pose, reach, half_width, z, self.cfg.zone_margin_m)
               for z in zones):
            return "watering zone"
        valid = visible_ground(ground, policy.lookahead_m)
        # The corridor the robot will sweep, and the ground just beyond (a stop distance): what
        # blocks it there is what stopped the policy straight ahead.
        ahead = corridor_mask(ground.xy, valid, 0.0, half_width, reach + policy.stop_distance_m)
        if not ahead.any():
            return "corridor not in view"
        conf = np.nan_to_num(cells.confidence, nan=0.0)
        novel = self.novel_cells(cells)
        unsure = unsure_cells(cells, policy)
        if (self.familiar_obstacles(cells, policy) & ahead).any():
            return "confident obstacle"
        blocking = blocked_cells(cells, policy, unsure) & ahead
        if not blocking.any():
            return "nothing blocks the corridor"
        questionable = unsure | novel
        n = int(blocking.sum())
        share = int((blocking & questionable).sum()) / n
        if share < self.cfg.min_share:
            return "confident blocking cells"
        names = cells.class_names
        counts = Counter(names[int(k)] for k in cells.classes[blocking])
        why = (f"{n} blocking cells ({_fmt(counts)}) ahead, {100 * share:.0f} % unsure or "
               f"novel: mean confidence {float(conf[blocking].mean()):.2f}, "
               f"{int((novel & blocking).sum())} novel")
        return why, n, dict(counts)

    def novel_cells(self, cells: CellMap) -> np.ndarray:
        """(h, w) bool: novelty above ``min_novelty``. A NaN novelty (none computed) is not
        novel: without the evidence a probe does not start."""
        novelty = np.broadcast_to(np.nan_to_num(cells.novelty, nan=0.0), cells.grid_hw)
        return novelty > self.cfg.min_novelty

    def familiar_obstacles(self, cells: CellMap, policy: PolicyConfig) -> np.ndarray:
        """(h, w) bool: cells confidently seen as an obstacle in a scene like the training
        data's — what a probe never drives toward."""
        return (cells.mask({"obstacle"}) & ~unsure_cells(cells, policy)
                & ~self.novel_cells(cells))

    def _continue(self, probe: ProbeRecord, t: float, policy: PolicyConfig, robot: RobotConfig,
                  pose: tuple[float, float, float] | None, bumper: bool,
                  stall: bool) -> DriveCommand | None:
        if pose is not None:
            probe.distance_m = math.hypot(pose[0] - probe.start_pose[0],
                                          pose[1] - probe.start_pose[1])
        timeout = (TIMEOUT_FACTOR * self.cfg.distance_m / self.cfg.speed_mps + TIMEOUT_EXTRA_S)
        if bumper:
            if pose is not None:
                x, y, th = pose
                self.bumped.append((x + robot.front_m * math.cos(th),
                                    y + robot.front_m * math.sin(th)))
            self._end(probe, t, BUMP)
        elif stall:
            self._end(probe, t, STALL)
        elif probe.distance_m >= self.cfg.distance_m:
            self._end(probe, t, SMOOTH)
        elif t - probe.start_t > timeout:
            self._end(probe, t, STUCK)
        else:
            return self._drive(probe, policy)
        return None

    def _drive(self, probe: ProbeRecord, policy: PolicyConfig) -> DriveCommand:
        return DriveCommand(self.cfg.speed_mps, 0.0, policy.command_ttl_ms, PROBE,
                            f"probe {len(self.log)}: {probe.distance_m:.2f} of "
                            f"{self.cfg.distance_m:.2f} m")

    def _end(self, probe: ProbeRecord, t: float, outcome: str) -> None:
        probe.end_t, probe.outcome = t, outcome
        self._next_t = t + self.cfg.interval_s
        log.info("probe %d ended at t=%.1f s: %s after %.2f m", len(self.log), t, outcome,
                 probe.distance_m)

    def reset(self) -> None:
        """The odometry starts afresh (a new segment of a simulation, the dock): a probe under
        way ends as interrupted, remembered obstacles are forgotten."""
        probe = self.active
        if probe is not None:
            probe.outcome = INTERRUPTED
            probe.end_t = probe.start_t
        self.memory.clear()
        self.bumped.clear()
        self._next_t = -math.inf

    def source_at(self, t_event: float) -> str:
        """``"probe"`` when a telemetry event at loop time ``t_event`` happened during a probe
        (or as its outcome just after), else ``"experience"``."""
        for p in reversed(self.log):
            end = math.inf if p.end_t is None else p.end_t + LABEL_GRACE_S
            if p.start_t <= t_event <= end:
                return PROBE
            if end < t_event:
                break
        return "experience"

    def summary(self) -> dict[str, object]:
        """Counts for a session's summary: probes, their outcomes, metres, why none started."""
        return {"probes": len(self.log),
                "outcomes": dict(Counter(p.outcome or "running" for p in self.log)),
                "distance_m": round(sum(p.distance_m for p in self.log), 2),
                "declined": dict(self.declined)}


def _fmt(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.most_common())


def _rect_meets_circle(pose: tuple[float, float, float], length_m: float, half_width_m: float,
                       zone: Zone, margin_m: float) -> bool:
    """Whether the rectangle swept ahead of ``pose`` (0..length_m along, ±half_width_m across,
    the rear half of the body included) comes within ``margin_m`` of ``zone``'s circle."""
    cx, cy = world_to_robot(np.array([[zone.x_m, zone.y_m]]), pose)[0]
    nx = min(max(cx, -half_width_m), length_m)
    ny = min(max(cy, -half_width_m), half_width_m)
    return math.hypot(cx - nx, cy - ny) <= zone.radius_m + margin_m
