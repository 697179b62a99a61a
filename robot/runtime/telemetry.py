"""MCU telemetry → timestamped records on the loop's clock: pose, bumper, stall, moisture, …

A record is a plain dict with the field names of the recording format's ``telemetry.jsonl``
(docs/recording.md), so the loop's experience labels, ``gardenbot record`` and the synthetic
recordings all speak one vocabulary::

    {"t": 12.3, "x_m": 1.02, "y_m": 0.4, "theta_rad": 0.1, "ticks_left": 812, "ticks_right": 790,
     "bumper": false, "stall": false, "motor_current_left_a": 0.31, "motor_current_right_a": 0.3,
     "battery_v": 12.4, "pump_on": false, "pump_zone": null,
     "soil_moisture": [{"zone": 0, "value": 0.21}, ...], "estop_latched": false,
     "failsafe_count": 0}

The pose is odometry: wheel ticks integrated from a start pose. ``slip`` (share of wheel travel
that did not move the robot) needs an independent measure of motion; it is added only when the
loop has one (the simulation's true pose), never guessed from the wheels alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from firmware_bridge import OdometryTracker, Pose, Telemetry
from firmware_bridge.constants import PUMP_CLOSED, TICKS_PER_M, TRACK_WIDTH_MM
from robot.runtime.control import RobotLink, RobotState, moisture_by_zone, stalled
from robot.runtime.loop import Tick

log = logging.getLogger(__name__)

MIN_WHEEL_TRAVEL_M = 0.005  # below this a slip estimate is noise
MIN_RECORD_GAP_S = 1e-4


def wheel_slip(true_prev: tuple[float, float, float], true_now: tuple[float, float, float],
               wheel_left_m: float, wheel_right_m: float) -> float | None:
    """Share of the wheels' travel that the true motion does not account for (0..1), or None
    when the wheels hardly turned."""
    (x0, y0, t0), (x1, y1, t1) = true_prev, true_now
    d_theta = math.remainder(t1 - t0, math.tau)
    heading = t0 + d_theta / 2
    ds = (x1 - x0) * math.cos(heading) + (y1 - y0) * math.sin(heading)
    half = TRACK_WIDTH_MM / 2000
    expected = abs(ds - d_theta * half) + abs(ds + d_theta * half)
    actual = abs(wheel_left_m) + abs(wheel_right_m)
    if actual < 2 * MIN_WHEEL_TRAVEL_M:
        return None
    return min(1.0, max(0.0, 1.0 - expected / actual))


def telemetry_record(t_s: float, msg: Telemetry, pose: Pose,
                     zone_ids: Iterable[int]) -> dict[str, Any]:
    """One Telemetry message as a record at loop time ``t_s`` with odometry ``pose``."""
    return {
        "t": round(t_s, 4),
        "x_m": round(pose.x_m, 5), "y_m": round(pose.y_m, 5),
        "theta_rad": round(pose.theta_rad, 6),
        "ticks_left": msg.left_ticks, "ticks_right": msg.right_ticks,
        "bumper": msg.bumper_bits != 0,
        "stall": stalled(msg),
        "motor_current_left_a": msg.current_left_ma / 1000,
        "motor_current_right_a": msg.current_right_ma / 1000,
        "battery_v": msg.battery_mv / 1000,
        "pump_on": msg.pump_zone != PUMP_CLOSED,
        "pump_zone": None if msg.pump_zone == PUMP_CLOSED else msg.pump_zone,
        # The MCU's probes stand in the beds (one per watering zone): the format's
        # `soil_moisture`, not `moisture`, which is a probe on the robot itself.
        "soil_moisture": [{"zone": z, "value": v}
                          for z, v in moisture_by_zone(msg, zone_ids).items()],
        "estop_latched": bool(msg.estop_latched),
        "failsafe_count": msg.failsafe_count,
        "uptime_ms": msg.uptime_ms,
    }


class TelemetryStep:
    """The link's telemetry since the last tick → ``tick.records``; updates ``state``.

    Live, each message is stamped with its arrival time on the loop's clock (the latest
    frame's time plus the wall time since). When the tick carries
    ``fresh_after_uptime_ms`` (the simulated world has just fed the emulator this frame's
    truth), the step waits for the first telemetry that reflects it and stamps it with the
    frame's time — one record per frame, so labels line up with frames exactly.
    """

    name = "telemetry"

    def __init__(self, link: RobotLink, state: RobotState, zone_ids: Iterable[int] = (),
                 start_pose: Pose | None = None, sync_timeout_s: float = 0.5) -> None:
        self.link = link
        self.state = state
        self.zone_ids = tuple(zone_ids)
        self.sync_timeout_s = sync_timeout_s
        self.odometry = OdometryTracker(start_pose or Pose())
        self.records = 0
        self.late = 0  # synchronous waits that timed out
        self._offset_s: float | None = None  # loop time minus monotonic time
        self._last_t = -math.inf
        self._last_uptime: int | None = None
        self._last_truth: tuple[tuple[float, float, float], int, int] | None = None

    def reset(self, pose: Pose) -> None:
        """Start odometry over at ``pose`` (a new recording: the robot was carried there)."""
        self.odometry = OdometryTracker(pose)
        self._last_truth = None

    def run(self, tick: Tick) -> None:
        if tick.frame is not None:
            # The frame's clock against the link's arrival clock (both read after the camera
            # delivered; the tick's start is earlier by however long the read blocked).
            read_at = tick.frame_wall_s if tick.frame_wall_s is not None else tick.wall_s
            self._offset_s = tick.frame.t - read_at
        if tick.fresh_after_uptime_ms is not None:
            msg = self.link.wait_for(tick.fresh_after_uptime_ms, self.sync_timeout_s)
            if msg is None:
                self.late += 1
                if self.late == 1:
                    log.warning("no fresh telemetry within %.1f s of a frame; the MCU is slow "
                                "or gone (counted from now on)", self.sync_timeout_s)
                return
            assert tick.frame is not None
            items = [(tick.frame.t, msg)]
        else:
            arrived = self.link.drain()
            if self._offset_s is None:
                return  # before the first frame the loop has no clock to put them on
            items = [(t + self._offset_s, msg) for t, msg in arrived]
        for t_s, msg in items:
            # the loop's clock never runs backwards, and two records never share a time
            self._last_t = max(self._last_t + MIN_RECORD_GAP_S, t_s)
            tick.records.append(self._record(self._last_t, msg, tick.truth_pose))
        if items:
            msg = items[-1][1]
            self.state.telemetry = msg
            self.state.moisture.update(moisture_by_zone(msg, self.zone_ids))
            p = self.odometry.pose
            self.state.pose = (p.x_m, p.y_m, p.theta_rad)

    def _record(self, t_s: float, msg: Telemetry,
                truth: tuple[float, float, float] | None) -> dict[str, Any]:
        if self._last_uptime is not None and msg.uptime_ms < self._last_uptime:
            log.warning("the MCU restarted (uptime went back); odometry continues from %s",
                        self.odometry.pose)
            self.odometry.reset_counters()
            self._last_truth = None
        self._last_uptime = msg.uptime_ms
        pose = self.odometry.update(msg.left_ticks, msg.right_ticks)
        rec = telemetry_record(t_s, msg, pose, self.zone_ids)
        if truth is not None:
            if self._last_truth is not None:
                prev, left0, right0 = self._last_truth
                slip = wheel_slip(prev, truth, (msg.left_ticks - left0) / TICKS_PER_M,
                                  (msg.right_ticks - right0) / TICKS_PER_M)
                rec["slip"] = round(slip, 4) if slip is not None else 0.0
            self._last_truth = (truth, msg.left_ticks, msg.right_ticks)
        self.records += 1
        return rec

    def shutdown(self) -> None:
        pass
