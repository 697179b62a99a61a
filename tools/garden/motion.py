"""The robot's body in the garden: differential-drive motion, contact, mud slip, wheel travel.

Shared by the scripted drive of the recordings (``trajectory.py``) and the closed-loop garden
(``live.py``), so that a robot driven by its own commands moves exactly as the recorded one.

The motion is exact: over an interval the wheel speeds are constant, so the robot moves along a
circular arc; a contact cuts the arc short and the wheels stop there (stall). What blocks the
robot is what a bumper can touch: the obstacles' ground contacts and the garden boundary
(``Garden.obstacle_distance``); beds and hoses do not block (a planner keeps out of them, the
body does not). Slip is the share of the wheels' travel that did not move the robot (wet mud),
so integrating the wheel travel scaled by ``1 - slip`` reproduces the pose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tools.garden.layout import Garden

ROBOT_RADIUS_M = 0.2  # round footprint centred between the wheels
WHEEL_BASE_M = 0.3
TICKS_PER_M = 2000
CONTACT_TOL_M = 1e-3  # the bumper closes within this distance of an obstacle
MAX_MUD_SLIP = 0.45
BISECT_WIDTH = 2.0**-20  # a contact is found to this share of the interval

Pose = tuple[float, float, float]


def arc(pose: Pose, ds: float, dth: float) -> Pose:
    """Pose after moving ``ds`` along an arc that turns by ``dth`` (exact for constant speeds)."""
    x, y, th = pose
    if abs(dth) < 1e-9:
        return x + ds * math.cos(th), y + ds * math.sin(th), th
    r = ds / dth
    return (x + r * (math.sin(th + dth) - math.sin(th)),
            y - r * (math.cos(th + dth) - math.cos(th)), th + dth)


def integrate_odometry(start: Pose, d_left_m: float, d_right_m: float, slip: float) -> Pose:
    """Dead reckoning for one interval: wheel travel scaled by ``1 - slip``, along an arc."""
    k = 1.0 - slip
    return arc(start, k * (d_left_m + d_right_m) / 2, k * (d_right_m - d_left_m) / WHEEL_BASE_M)


def wheel_travel(v_mps: float, omega_radps: float, dt: float) -> tuple[float, float]:
    """Left and right wheel travel (m) for body speed ``v`` and turn rate ``omega`` over ``dt``."""
    return ((v_mps - omega_radps * WHEEL_BASE_M / 2) * dt,
            (v_mps + omega_radps * WHEEL_BASE_M / 2) * dt)


def mud_slip(garden: Garden, wetness: float, x: float, y: float) -> float:
    """Slip of the wheels at (x, y): on a mud patch, more the wetter the season."""
    slip = 0.0
    for m in garden.mud:
        if math.hypot(x - m.x_m, y - m.y_m) < m.radius_m:
            slip = max(slip, min(MAX_MUD_SLIP, 0.6 * wetness))
    return slip


def contact_gap(garden: Garden, x: float, y: float) -> float:
    """Distance (m) between the robot's footprint at (x, y) and the nearest thing it can touch."""
    return float(garden.obstacle_distance(np.array(x), np.array(y))) - ROBOT_RADIUS_M


def touching(garden: Garden, x: float, y: float) -> bool:
    """The bumper is closed: the footprint is within CONTACT_TOL_M of an obstacle or the fence."""
    d = float(garden.obstacle_distance(np.array(x), np.array(y)))
    return d <= ROBOT_RADIUS_M + CONTACT_TOL_M


def free_fraction(
    garden: Garden, pose: Pose, d_left_m: float, d_right_m: float, slip: float, *,
    far: bool = False, checks: Sequence[float] = (0.5, 1.0),
) -> float:
    """How much of this interval's arc the robot can drive before touching something.

    ``far``: the caller knows nothing is within reach (a clearance map), skip the exact test.
    ``checks``: ascending shares of the arc tested for contact before the contact is bisected
    between the last free one and the first blocked one; they must be dyadic (k / 2^n) so that
    the bisection lands on the same shares whatever the checks (the recordings' drive uses the
    default and must not change by a bit). Spacing them closer than an obstacle is thin is the
    caller's job (a long interval could otherwise jump over a thin thing).
    """
    if far:
        return 1.0

    def gap(f: float) -> float:
        p = integrate_odometry(pose, d_left_m * f, d_right_m * f, slip)
        return contact_gap(garden, p[0], p[1])

    lo, hi = 0.0, None
    for f in checks:
        if gap(f) < 0.0:
            hi = f
            break
        lo = f
    if hi is None:
        return 1.0
    here = gap(0.0)
    if here < 0.0:  # already touching: only moves that open the gap are allowed
        return 1.0 if gap(1.0) > here else 0.0
    while hi - lo > BISECT_WIDTH:
        f = (lo + hi) / 2
        if gap(f) >= 0.0:
            lo = f
        else:
            hi = f
    return lo


def advance(
    garden: Garden, pose: Pose, d_left_m: float, d_right_m: float, slip: float, *,
    far: bool = False, checks: Sequence[float] = (0.5, 1.0),
) -> tuple[Pose, float]:
    """Drive one interval: the new pose and the share of the wheel travel that happened.

    A contact part-way stops the wheels there: they turn only for that share of the interval
    (so the encoders count ``share * d_left_m``; the stall is ``share < 1``).
    """
    full = integrate_odometry(pose, d_left_m, d_right_m, slip)
    frac = free_fraction(garden, pose, d_left_m, d_right_m, slip, far=far, checks=checks)
    if frac >= 1.0:
        return full, frac
    return integrate_odometry(pose, frac * d_left_m, frac * d_right_m, slip), frac


def dyadic_checks(path_m: float, spacing_m: float) -> tuple[float, ...]:
    """Shares k / 2^n of an arc of length ``path_m`` at most ``spacing_m`` apart (ends at 1)."""
    n = 1
    while path_m / n > spacing_m and n < 1 << 12:
        n *= 2
    return tuple(k / n for k in range(1, n + 1))
