"""The robot's drive through the garden: a wandering route over lawn and paths, with bumps.

A differential-drive robot with a round footprint wanders between random goals on lawn and paths,
steering by scoring a fan of short arcs against a clearance map (a small dynamic-window
planner); it likes to stop beside a bed and look at it. Every so often it picks an obstacle ahead
and drives into it on purpose: it stops at contact (the bumper fires), keeps pushing for a moment
with its wheels stalled, backs off and turns away. On wet mud its wheels slip partly.

The body's physics (exact arcs, contact, stall, mud slip, wheel travel) is in ``motion.py``,
shared with the closed-loop garden (``live.py``): integrating the wheel ticks scaled by
``1 - slip`` reproduces the pose (up to tick quantisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from tools.garden.layout import PLAN_RES_M, Garden
from tools.garden.motion import (
    ROBOT_RADIUS_M,
    TICKS_PER_M,
    advance,
    integrate_odometry,
    mud_slip,
    touching,
    wheel_travel,
)
from tools.garden.season import SeasonLook

V_CRUISE_MPS = 0.3
OMEGA_MAX_RADPS = 1.2
_SAFE_M = 0.08  # margin the planner keeps while wandering


@dataclass(frozen=True)
class RobotState:
    """The robot at time ``t`` and what happened over the frame interval ending at ``t``."""

    t: float
    x_m: float
    y_m: float
    theta_rad: float
    v_mps: float  # wheel speed command (mean of both wheels) over the interval
    omega_radps: float
    ticks_left: int  # cumulative encoder ticks
    ticks_right: int
    slip: float  # 0..1: share of the wheel travel that did not move the robot (mud)
    bumper: bool
    stall: bool  # commanded to drive but blocked by an obstacle: the wheels stop
    mode: str

    @property
    def pose(self) -> tuple[float, float, float]:
        return self.x_m, self.y_m, self.theta_rad


def clearance_map(garden: Garden) -> np.ndarray:
    """Distance (m) from each PLAN_RES_M cell to the nearest place the robot must not enter."""
    h = math.ceil(garden.height_m / PLAN_RES_M)
    w = math.ceil(garden.width_m / PLAN_RES_M)
    free = np.full((h, w), 255, np.uint8)

    def px(pts) -> np.ndarray:
        return np.round(np.asarray(pts) / PLAN_RES_M - 0.5).astype(np.int32)

    for bed in garden.beds:
        cv2.fillPoly(free, [px(bed.outline)], 0)
    for hose in garden.hoses:
        cv2.polylines(free, [px(hose.points)], False, 0, 2)
    for ob in garden.obstacles:
        cx, cy = ob.centre
        if ob.kind in ("chair", "table"):  # keep out from under furniture
            r = ob.bounding_radius_m
        else:
            r = max(p.bounding_radius_m for p in ob.parts)
        cv2.circle(free, tuple(int(v) for v in px([cx, cy])), max(1, round(r / PLAN_RES_M)), 0, -1)
    free[0, :] = free[-1, :] = 0
    free[:, 0] = free[:, -1] = 0
    return cv2.distanceTransform(free, cv2.DIST_L2, 5) * PLAN_RES_M


def path_map(garden: Garden) -> np.ndarray:
    """True on PLAN_RES_M cells covered by a path or patio."""
    h = math.ceil(garden.height_m / PLAN_RES_M)
    w = math.ceil(garden.width_m / PLAN_RES_M)
    m = np.zeros((h, w), np.uint8)
    for p in garden.paths:
        pts = np.round(np.asarray(p.points) / PLAN_RES_M - 0.5).astype(np.int32)
        cv2.polylines(m, [pts], False, 1, max(1, round(p.width_m / PLAN_RES_M)))
    for pt in garden.patios:
        a = (round(pt.x0_m / PLAN_RES_M), round(pt.y0_m / PLAN_RES_M))
        b = (round(pt.x1_m / PLAN_RES_M), round(pt.y1_m / PLAN_RES_M))
        cv2.rectangle(m, a, b, 1, -1)
    return m.astype(bool)


class _World:
    """What the driving simulation needs to know about the garden."""

    def __init__(self, garden: Garden, look: SeasonLook) -> None:
        self.garden = garden
        self.clear = clearance_map(garden)
        self.path = path_map(garden)
        self.wet = look.wetness

    def on_path(self, x: float, y: float) -> bool:
        h, w = self.path.shape
        return bool(self.path[min(max(int(y / PLAN_RES_M), 0), h - 1),
                              min(max(int(x / PLAN_RES_M), 0), w - 1)])

    def clearance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        h, w = self.clear.shape
        r = np.clip((np.asarray(y) / PLAN_RES_M).astype(np.int64), 0, h - 1)
        c = np.clip((np.asarray(x) / PLAN_RES_M).astype(np.int64), 0, w - 1)
        return self.clear[r, c]

    def touching(self, x: float, y: float) -> bool:
        return touching(self.garden, x, y)

    def mud_slip(self, x: float, y: float) -> float:
        return mud_slip(self.garden, self.wet, x, y)


def drive(
    garden: Garden, look: SeasonLook, seconds: float, fps: float, rng: np.random.Generator,
) -> list[RobotState]:
    """Simulate ``seconds`` of driving at ``fps``; one state per frame, starting at t = 0."""
    sim = _Driver(_World(garden, look), fps, rng)
    n = max(1, round(seconds * fps))
    return [sim.step(i) for i in range(n)]


class _Driver:
    def __init__(self, world: _World, fps: float, rng: np.random.Generator) -> None:
        self.w = world
        self.dt = 1.0 / fps
        self.rng = rng
        self.look_at: tuple[float, float] | None = None  # bed to face when its goal is reached
        self.pose = self._start_pose()
        self.travel_l = self.travel_r = 0.0
        self.mode = "wander"
        self.mode_until = 0.0
        start_inspect = self.look_at is not None
        self.goal = self._new_goal()
        if start_inspect:  # started beside a bed: look at it for a while first
            self.mode, self.mode_until = "inspect", float(rng.uniform(2.0, 4.0))
            self.look_at = self.look_at or (self.pose[0], self.pose[1])
        self.goal_deadline = 25.0
        self.progress_mark = (0.0, self.pose)
        self.next_bump_t = float(rng.uniform(2.0, 6.0))
        self.target = None  # obstacle centre during a bump
        self.turn_dir = 1.0
        self.omega_prev = 0.0

    def _start_pose(self) -> tuple[float, float, float]:
        """A free spot, mostly looking towards the nearest bed (recordings are short)."""
        g = self.w.garden
        if g.beds and self.rng.random() < 0.75:  # right beside a bed, looking at it
            spot = self._bed_goal()
            if spot is not None and self.look_at is not None:
                x, y = spot
                return x, y, self._bed_heading(x, y) + float(self.rng.uniform(-0.3, 0.3))
        for _ in range(2000):
            x = float(self.rng.uniform(0.5, g.width_m - 0.5))
            y = float(self.rng.uniform(0.5, g.height_m - 0.5))
            if self.w.clearance(x, y) > ROBOT_RADIUS_M + 0.35:
                heading = float(self.rng.uniform(-math.pi, math.pi))
                if g.beds and self.rng.random() < 0.7:
                    centres = [np.asarray(b.outline).mean(0) for b in g.beds]
                    cx, cy = min(centres, key=lambda c: math.hypot(c[0] - x, c[1] - y))
                    heading = math.atan2(cy - y, cx - x) + float(self.rng.uniform(-0.4, 0.4))
                return x, y, heading
        raise RuntimeError(f"garden {g.id}: no free place to start the robot")

    def _new_goal(self) -> tuple[float, float]:
        """A free spot: beside a bed (so the camera sees it), on a path, or anywhere."""
        g = self.w.garden
        kind = self.rng.random()
        if kind < 0.5 and g.beds:
            goal = self._bed_goal()
            if goal is not None:
                return goal
        for _ in range(2000):
            x = float(self.rng.uniform(0.5, g.width_m - 0.5))
            y = float(self.rng.uniform(0.5, g.height_m - 0.5))
            c = float(self.w.clearance(x, y))
            if c <= ROBOT_RADIUS_M + 0.25:
                continue
            if kind < 0.75 and not self.w.on_path(x, y):
                continue
            return x, y
        return self.pose[0], self.pose[1]

    def _bed_heading(self, x: float, y: float) -> float:
        """Heading from (x, y) towards the nearest point of any bed outline."""
        pts = np.concatenate([np.asarray(b.outline) for b in self.w.garden.beds])
        near = pts[int(np.argmin(np.hypot(pts[:, 0] - x, pts[:, 1] - y)))]
        return math.atan2(near[1] - y, near[0] - x)

    def _bed_goal(self) -> tuple[float, float] | None:
        beds = self.w.garden.beds
        bed = beds[int(self.rng.integers(0, len(beds)))]
        outline = np.asarray(bed.outline)
        centre = outline.mean(0)
        for _ in range(30):
            p = outline[int(self.rng.integers(0, len(outline)))]
            out = p - centre
            out /= np.linalg.norm(out) + 1e-9
            x, y = p + out * float(self.rng.uniform(0.4, 0.7))
            if self.w.clearance(x, y) > ROBOT_RADIUS_M + 0.15:
                self.look_at = (float(centre[0]), float(centre[1]))
                return float(x), float(y)
        return None

    # -- one frame ------------------------------------------------------------------------
    def step(self, i: int) -> RobotState:
        t = i * self.dt
        v, omega = (0.0, 0.0) if i == 0 else self._command(t)
        slip, stall = 0.0, False
        if i > 0:
            slip, stall = self._move(v, omega)
        x, y, th = self.pose
        bumper = self.w.touching(x, y)
        return RobotState(
            t=round(t, 6), x_m=x, y_m=y, theta_rad=th, v_mps=v, omega_radps=omega,
            ticks_left=round(self.travel_l * TICKS_PER_M),
            ticks_right=round(self.travel_r * TICKS_PER_M),
            slip=slip, bumper=bumper, stall=stall, mode=self.mode,
        )

    def _move(self, v: float, omega: float) -> tuple[float, bool]:
        """Drive for one interval; returns (slip, stalled against something)."""
        dl, dr = wheel_travel(v, omega, self.dt)
        mud = self.w.mud_slip(self.pose[0], self.pose[1])
        full = integrate_odometry(self.pose, dl, dr, mud)
        # the planner's clearance map (beds and hoses included) is a cheap "nothing near" test
        near = float(self.w.clearance(np.array([self.pose[0], full[0]]),
                                      np.array([self.pose[1], full[1]])).min())
        self.pose, frac = advance(self.w.garden, self.pose, dl, dr, mud,
                                  far=near > ROBOT_RADIUS_M + 0.2)
        self.travel_l += frac * dl
        self.travel_r += frac * dr
        return mud, frac < 1.0

    # -- behaviour ------------------------------------------------------------------------
    def _command(self, t: float) -> tuple[float, float]:
        x, y, th = self.pose
        if self.mode == "approach":
            if self.w.touching(x, y):
                self.mode, self.mode_until = "push", t + float(self.rng.uniform(0.3, 0.7))
            elif t > self.mode_until:
                self._resume(t)
            else:
                err = _wrap(math.atan2(self.target[1] - y, self.target[0] - x) - th)
                return 0.28, float(np.clip(2.0 * err, -OMEGA_MAX_RADPS, OMEGA_MAX_RADPS))
        if self.mode == "push":
            if t <= self.mode_until:
                return 0.15, 0.0
            self.mode, self.mode_until = "back", t + float(self.rng.uniform(0.8, 1.3))
        if self.mode == "back":
            if t <= self.mode_until:
                return -0.15, 0.0
            self.mode = "turn"
            self.turn_dir = 1.0 if self.rng.random() < 0.5 else -1.0
            self.mode_until = t + float(self.rng.uniform(1.6, 2.6))
        if self.mode == "turn":
            if t <= self.mode_until:
                return 0.0, self.turn_dir * 1.0
            self._resume(t)
        if self.mode == "inspect":  # face the bed for a moment, as if checking the plants
            if t <= self.mode_until and self.look_at is not None:
                err = _wrap(self._bed_heading(x, y) - th)
                return 0.0, float(np.clip(1.5 * err, -OMEGA_MAX_RADPS, OMEGA_MAX_RADPS))
            self.look_at = None
            self._resume(t)
        if t >= self.next_bump_t and self._start_bump(t):
            return self._command(t)
        return self._wander(t)

    def _resume(self, t: float) -> None:
        bumped = self.mode in ("approach", "push", "back", "turn")
        self.mode = "wander"
        self.goal = self._new_goal()
        self.goal_deadline = t + 25.0
        self.progress_mark = (t, self.pose)
        if bumped:
            self.next_bump_t = t + float(self.rng.uniform(6.0, 14.0))

    def _start_bump(self, t: float) -> bool:
        x, y, th = self.pose
        best = None
        for ob in self.w.garden.obstacles:
            contacts = ob.contacts
            if not contacts:
                continue
            part = min(contacts, key=lambda p: math.hypot(p.x_m - x, p.y_m - y))
            dx, dy = part.x_m - x, part.y_m - y
            dist = math.hypot(dx, dy)
            bearing = _wrap(math.atan2(dy, dx) - th)
            if not (0.6 < dist < 3.0 and abs(bearing) < 0.5):
                continue
            # the way there must be clear of beds and other things up to the target itself
            reach = dist - part.bounding_radius_m - ROBOT_RADIUS_M - 0.1
            s = np.linspace(0.0, max(reach, 0.0), 12)
            if (self.w.clearance(x + s * dx / dist, y + s * dy / dist) < ROBOT_RADIUS_M).any():
                continue
            if best is None or dist < best[0]:
                best = (dist, (part.x_m, part.y_m))
        if best is None:
            self.next_bump_t = t + 1.0
            return False
        self.mode, self.target, self.mode_until = "approach", best[1], t + 15.0
        return True

    def _wander(self, t: float) -> tuple[float, float]:
        x, y, th = self.pose
        if math.hypot(self.goal[0] - x, self.goal[1] - y) < 0.4 and self.look_at is not None:
            self.mode, self.mode_until = "inspect", t + float(self.rng.uniform(1.5, 3.0))
            return self._command(t)
        if math.hypot(self.goal[0] - x, self.goal[1] - y) < 0.4 or t > self.goal_deadline:
            self.look_at = None
            self.goal, self.goal_deadline = self._new_goal(), t + 25.0
        t0, p0 = self.progress_mark
        if t - t0 > 5.0:
            if math.hypot(x - p0[0], y - p0[1]) < 0.3:
                self.goal, self.goal_deadline = self._new_goal(), t + 25.0
            self.progress_mark = (t, self.pose)
        omegas = np.linspace(-OMEGA_MAX_RADPS, OMEGA_MAX_RADPS, 13)
        horizon = np.linspace(0.25, 1.5, 6)[:, None]  # seconds ahead
        v = V_CRUISE_MPS
        headings = th + omegas[None, :] * horizon
        with np.errstate(divide="ignore", invalid="ignore"):
            radius = v / omegas[None, :]
            px = np.where(np.abs(omegas) < 1e-6, x + v * horizon * math.cos(th),
                          x + radius * (np.sin(headings) - math.sin(th)))
            py = np.where(np.abs(omegas) < 1e-6, y + v * horizon * math.sin(th),
                          y - radius * (np.cos(headings) - math.cos(th)))
        clear = self.w.clearance(px, py).min(0)
        goal_dist = np.hypot(self.goal[0] - px[-1], self.goal[1] - py[-1])
        cost = goal_dist + 0.15 * np.abs(omegas - self.omega_prev)
        cost = cost + np.where(clear < ROBOT_RADIUS_M + _SAFE_M, 1e3, 0.0)
        cost = cost + np.maximum(0.0, ROBOT_RADIUS_M + 0.35 - clear) * 2.0
        k = int(np.argmin(cost))
        if cost[k] >= 1e3:  # boxed in: turn on the spot towards the most open side
            side = 1.0 if clear[omegas > 0].max() >= clear[omegas < 0].max() else -1.0
            self.omega_prev = side * 0.9
            return 0.0, self.omega_prev
        self.omega_prev = float(omegas[k])
        return v, self.omega_prev


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi
