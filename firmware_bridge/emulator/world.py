"""What the emulated MCU's sensors see: a small model of the robot, overridable by a simulation.

By default the wheels turn exactly as commanded, motor currents follow speed, the watered zone's
soil gets wetter while the others dry, and the battery drains (the same models as the firmware's
``hal_sim.c``). A simulation that knows the ground truth — a recorded trajectory, a bumper hit —
*feeds* values with :meth:`World.feed`; a fed value wins over the model until fed ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from firmware_bridge.constants import N_MOISTURE, PUMP_CLOSED, TICKS_PER_M, TRACK_WIDTH_MM
from firmware_bridge.emulator.core import SensorReading
from firmware_bridge.errors import BridgeError

STALL_CURRENT_MA = 3000
IDLE_CURRENT_MA = 150
START_MOISTURE_PERMILLE = 400
START_BATTERY_MV = 12_600


class FeedError(BridgeError, ValueError):
    """A sensor feed with an unknown name or an impossible value. Nothing was changed."""


@dataclass(frozen=True)
class Feed:
    """Ground truth fed by a simulation; ``None`` means "use the model"."""

    bumper_left: bool = False
    bumper_right: bool = False
    stall_left: bool = False  # wheel blocked: no ticks, stall current while driven
    stall_right: bool = False
    slip_left: float = 0.0  # fraction of wheel turn that does not move the robot (pose mode)
    slip_right: float = 0.0
    current_left_ma: int | None = None
    current_right_ma: int | None = None
    moisture_permille: tuple[int | None, ...] = (None,) * N_MOISTURE
    battery_mv: int | None = None
    pose: tuple[float, float, float] | None = None  # (x_m, y_m, theta_rad): odometry follows it


def validated_feed(current: Feed, values: dict[str, Any]) -> Feed:
    """``current`` with ``values`` applied, or :class:`FeedError` naming the bad key."""
    known = Feed.__dataclass_fields__
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise FeedError(f"unknown sensor feed {key!r}; known: {', '.join(known)}")
        clean[key] = _check(key, value)
    return replace(current, **clean)


def _check(key: str, value: Any) -> Any:
    if key.startswith(("bumper_", "stall_")):
        if not isinstance(value, bool):
            raise FeedError(f"{key} must be true or false, not {value!r}")
        return value
    if key.startswith("slip_"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise FeedError(f"{key} must be a number in [0, 1), not {value!r}")
        return float(value)
    if key == "moisture_permille":
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) \
                or len(value) != N_MOISTURE:
            raise FeedError(f"moisture_permille must be a list of {N_MOISTURE} values "
                            f"(null = model), not {value!r}")
        return tuple(_int_or_none(f"moisture_permille[{i}]", v, 0, 1000)
                     for i, v in enumerate(value))
    if key == "pose":
        if value is None:
            return None
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 3:
            raise FeedError(f"pose must be [x_m, y_m, theta_rad] or null, not {value!r}")
        try:
            pose = tuple(float(v) if _is_number(v) else math.nan for v in value)
        except OverflowError:  # an integer too large for a float
            pose = (math.nan,)
        if not all(math.isfinite(v) and abs(v) <= MAX_POSE_M for v in pose):
            raise FeedError(f"pose must hold three finite numbers within ±{MAX_POSE_M:g}, "
                            f"not {value!r}")
        return pose
    limit = {"battery_mv": 65_535, "current_left_ma": 65_535, "current_right_ma": 65_535}[key]
    return _int_or_none(key, value, 0, limit)


MAX_POSE_M = 1e6  # a garden is far smaller; beyond this, wheel travel overflows the model


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float)


def _int_or_none(key: str, value: Any, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FeedError(f"{key} must be an integer in {low}..{high} or null, not {value!r}")
    return value


class World:
    """The model behind the emulator's sensors. Not thread-safe: the emulator holds a lock."""

    def __init__(self) -> None:
        self.feed = Feed()
        self.travel_m = [0.0, 0.0]
        self.moisture = [float(START_MOISTURE_PERMILLE)] * N_MOISTURE
        self.battery_mv = float(START_BATTERY_MV)
        self._speeds_mmps = (0, 0)
        self._pump_zone = PUMP_CLOSED
        self._last_ms: int | None = None
        self._last_pose: tuple[float, float, float] | None = None

    def apply(self, values: dict[str, Any]) -> None:
        """Apply a sensor feed (all or nothing)."""
        feed = validated_feed(self.feed, values)
        if feed.pose is not None:
            self._follow_pose(feed)
        else:
            self._last_pose = None
        self.feed = feed

    def reset_odometry(self) -> None:
        """What an MCU reset does to its encoder counters."""
        self.travel_m = [0.0, 0.0]

    def step(self, now_ms: int, motor_left_mmps: int, motor_right_mmps: int,
             pump_zone: int) -> None:
        """Integrate up to ``now_ms`` under the commands that held until now, then take new ones."""
        if self._last_ms is not None and now_ms > self._last_ms:
            self._integrate((now_ms - self._last_ms) / 1000.0)
        self._last_ms = now_ms
        self._speeds_mmps = (motor_left_mmps, motor_right_mmps)
        self._pump_zone = pump_zone

    def reading(self) -> SensorReading:
        f = self.feed
        currents = [self._current(i, f) for i in range(2)]
        moisture = tuple(round(m) if fed is None else fed
                         for m, fed in zip(self.moisture, f.moisture_permille, strict=True))
        return SensorReading(
            left_ticks=round(self.travel_m[0] * TICKS_PER_M),
            right_ticks=round(self.travel_m[1] * TICKS_PER_M),
            current_left_ma=currents[0], current_right_ma=currents[1],
            bumper_left=f.bumper_left, bumper_right=f.bumper_right,
            moisture_permille=moisture,
            battery_mv=round(self.battery_mv) if f.battery_mv is None else f.battery_mv,
        )

    def _current(self, wheel: int, f: Feed) -> int:
        fed = (f.current_left_ma, f.current_right_ma)[wheel]
        if fed is not None:
            return fed
        speed = abs(self._speeds_mmps[wheel])
        if (f.stall_left, f.stall_right)[wheel] and speed:
            return STALL_CURRENT_MA
        return IDLE_CURRENT_MA + 2 * speed

    def _integrate(self, dt_s: float) -> None:
        f = self.feed
        if f.pose is None:  # wheels turn as commanded unless blocked
            for wheel, stalled in enumerate((f.stall_left, f.stall_right)):
                if not stalled:
                    self.travel_m[wheel] += self._speeds_mmps[wheel] / 1000.0 * dt_s
        zone = self._pump_zone
        for i in range(N_MOISTURE):
            if i == zone:
                self.moisture[i] = min(1000.0, self.moisture[i] + 20.0 * dt_s)
            else:
                self.moisture[i] = max(0.0, self.moisture[i] - 0.1 * dt_s)
        busy = any(self._speeds_mmps) or zone != PUMP_CLOSED
        self.battery_mv = max(0.0, self.battery_mv - dt_s / (2.0 if busy else 20.0))

    def _follow_pose(self, feed: Feed) -> None:
        """Turn a pose increment into the wheel travel that produces it (plus slip)."""
        pose = feed.pose
        assert pose is not None
        if self._last_pose is not None:
            x0, y0, t0 = self._last_pose
            x1, y1, t1 = pose
            d_theta = math.remainder(t1 - t0, math.tau)
            heading = t0 + d_theta / 2
            ds = (x1 - x0) * math.cos(heading) + (y1 - y0) * math.sin(heading)
            half_track_m = TRACK_WIDTH_MM / 2000.0
            for wheel, (sign, slip) in enumerate(((-1, feed.slip_left), (1, feed.slip_right))):
                if not (feed.stall_left, feed.stall_right)[wheel]:
                    self.travel_m[wheel] += (ds + sign * d_theta * half_track_m) / (1.0 - slip)
        self._last_pose = pose
