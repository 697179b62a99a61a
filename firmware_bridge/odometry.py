"""Wheel ticks → pose, for a differential drive (the inverse of what the emulator's world does).

Pure functions plus one small tracker that handles the 32-bit wrap of the tick counters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware_bridge.constants import TICKS_PER_M, TRACK_WIDTH_MM


@dataclass(frozen=True)
class Pose:
    x_m: float = 0.0
    y_m: float = 0.0
    theta_rad: float = 0.0


def integrate(pose: Pose, d_left_m: float, d_right_m: float,
              track_m: float = TRACK_WIDTH_MM / 1000) -> Pose:
    """The pose after the wheels travelled ``d_left_m`` and ``d_right_m`` (midpoint heading)."""
    ds = (d_left_m + d_right_m) / 2
    d_theta = (d_right_m - d_left_m) / track_m
    heading = pose.theta_rad + d_theta / 2
    return Pose(pose.x_m + ds * math.cos(heading), pose.y_m + ds * math.sin(heading),
                math.remainder(pose.theta_rad + d_theta, math.tau))


class OdometryTracker:
    """Feed cumulative tick counters (e.g. from Telemetry); read the integrated :class:`Pose`."""

    def __init__(self, pose: Pose | None = None, ticks_per_m: float = TICKS_PER_M) -> None:
        self.pose = pose or Pose()
        self.ticks_per_m = ticks_per_m
        self._last: tuple[int, int] | None = None

    def update(self, left_ticks: int, right_ticks: int) -> Pose:
        if self._last is not None:
            d_left = _wrap32(left_ticks - self._last[0]) / self.ticks_per_m
            d_right = _wrap32(right_ticks - self._last[1]) / self.ticks_per_m
            self.pose = integrate(self.pose, d_left, d_right)
        self._last = (left_ticks, right_ticks)
        return self.pose

    def reset_counters(self) -> None:
        """Forget the last counters (after an MCU reboot); the pose is kept."""
        self._last = None


def _wrap32(d: int) -> int:
    return (d + 2**31) % 2**32 - 2**31
