"""Loop steps that act: the policy (drive and watering) and the serial link that carries them.

:class:`RobotLink` wraps ``firmware_bridge.Link`` for a loop that must never stop: a command
that fails (Nak, no answer, link down) is counted and logged once per change of state, never
raised; telemetry is stamped with the monotonic time it arrived. The MCU boots with its e-stop
latched and latches again when heartbeats stop; the link releases a latch set for those
reasons (never one the host requested) and says so in the log.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from firmware_bridge import (
    BridgeError,
    EstopReason,
    Link,
    LinkConfig,
    NakCode,
    NakError,
    Telemetry,
)
from firmware_bridge.constants import MAX_WHEEL_SPEED_MMPS, OVERCURRENT_MA, TRACK_WIDTH_MM
from robot.acting.config import PolicyConfig, ProbeConfig, WateringConfig, Zone
from robot.acting.memory import ObstacleMemory, recall
from robot.acting.policy import (
    STOP_NO_FRAME,
    DriveCommand,
    GroundGrid,
    WaterCommand,
    clamp_drive,
    clamp_water,
    drive_command,
    stop,
    visible_ground,
    water_command,
)
from robot.acting.probe import Prober
from robot.acting.reflex import BumpReflex, Unstick
from robot.common.body import RobotConfig
from robot.common.geometry import CameraModel
from robot.runtime.config import SerialConfig
from robot.runtime.loop import Tick

log = logging.getLogger(__name__)

WATER_CHECK_PERIOD_S = 1.0  # the watering rules are checked this often (loop time)


@dataclass
class RobotState:
    """What the loop knows about the robot between steps (written by telemetry and
    actuation, read by the policy)."""

    pose: tuple[float, float, float] | None = None  # x_m, y_m, theta_rad in the world frame
    moisture: dict[int, float] = field(default_factory=dict)  # zone id → 0..1
    last_watered: dict[int, datetime] = field(default_factory=dict)
    telemetry: Telemetry | None = None  # the latest


@dataclass
class LinkCounters:
    drives_sent: int = 0
    drives_acked: int = 0
    waters_sent: int = 0
    waters_acked: int = 0
    stops_sent: int = 0
    releases: int = 0
    wheel_limited: int = 0  # drive commands scaled down to fit the MCU's wheel-speed cap
    failures: Counter[str] = field(default_factory=Counter)  # by error type
    waterings: list[tuple[int, int]] = field(default_factory=list)  # (zone, duration_ms) acked


def link_config(serial: SerialConfig) -> LinkConfig:
    return LinkConfig(baudrate=serial.baudrate,
                      heartbeat_period_ms=max(1, round(1000 / serial.heartbeat_hz)),
                      ack_timeout_ms=serial.ack_timeout_ms, retries=serial.retries)


def fit_wheel_limits(cmd: DriveCommand) -> DriveCommand:
    """Scale the forward speed so neither wheel exceeds the MCU's cap (which would refuse the
    command); the turn rate is kept, because it is what steers away from an obstacle — unless
    the turn alone exceeds the cap, then it is cut to what the wheels allow."""
    turn = abs(cmd.omega_radps) * TRACK_WIDTH_MM / 2000
    limit = MAX_WHEEL_SPEED_MMPS / 1000 - 1e-3
    if abs(cmd.v_mps) + turn <= limit:
        return cmd
    v = math.copysign(max(0.0, limit - turn), cmd.v_mps)
    omega = math.copysign(min(abs(cmd.omega_radps), limit * 2000 / TRACK_WIDTH_MM),
                          cmd.omega_radps)
    return replace(cmd, v_mps=v, omega_radps=omega, reason=f"{cmd.reason}+wheel_limit")


class RobotLink:
    """The MCU as the loop sees it. Commands return True (acknowledged) or False (counted)."""

    def __init__(self, open_link: Callable[[Callable[[Telemetry], None]], Link]) -> None:
        self.counters = LinkCounters()
        self._queue: deque[tuple[float, Telemetry]] = deque(maxlen=1000)
        self._arrived = threading.Condition()
        self._failing: str | None = None
        self.failsafe_count = 0  # the MCU's heartbeat-timeout counter, as last reported
        self.latest: Telemetry | None = None
        self._closed = False
        self.link = open_link(self._on_telemetry)

    @classmethod
    def open(cls, port: str, serial: SerialConfig) -> RobotLink:
        """Open ``port`` (a device, a pty or any pyserial URL) and release the boot latch."""
        robot_link = cls(lambda cb: Link.open(port, config=link_config(serial), on_telemetry=cb))
        robot_link.release()
        return robot_link

    # --- telemetry ---------------------------------------------------------------------

    def _on_telemetry(self, msg: Telemetry) -> None:  # the link's reader thread
        self._queue.append((time.monotonic(), msg))
        self.latest = msg
        self.failsafe_count = max(self.failsafe_count, msg.failsafe_count)
        with self._arrived:
            self._arrived.notify_all()

    def drain(self) -> list[tuple[float, Telemetry]]:
        """Telemetry received since the last call: (monotonic arrival time, message)."""
        out = []
        while self._queue:
            out.append(self._queue.popleft())
        return out

    def wait_for(self, min_uptime_ms: int, timeout_s: float) -> Telemetry | None:
        """The first telemetry with ``uptime_ms ≥ min_uptime_ms`` (queued or still to come),
        or None after ``timeout_s``. Older queued messages are dropped."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                while self._queue:
                    _, msg = self._queue.popleft()
                    if msg.uptime_ms >= min_uptime_ms:
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._arrived.wait(left)

    # --- commands ------------------------------------------------------------------------

    def drive(self, cmd: DriveCommand) -> bool:
        fitted = fit_wheel_limits(cmd)
        if fitted is not cmd:
            self.counters.wheel_limited += 1
            if self.counters.wheel_limited == 1:
                log.warning("drive command %.2f m/s, %.2f rad/s exceeds the MCU's wheel-speed "
                            "cap; forward speed scaled down (counted from now on)", cmd.v_mps,
                            cmd.omega_radps)
        self.counters.drives_sent += 1
        if self._call("drive", lambda: self.link.drive(fitted.v_mps, fitted.omega_radps,
                                                       fitted.ttl_ms)):
            self.counters.drives_acked += 1
            return True
        return False

    def water(self, cmd: WaterCommand) -> bool:
        self.counters.waters_sent += 1
        if self._call("water", lambda: self.link.water(cmd.zone, cmd.duration_ms)):
            self.counters.waters_acked += 1
            self.counters.waterings.append((cmd.zone, cmd.duration_ms))
            log.info("watering zone %d for %d ms (%s)", cmd.zone, cmd.duration_ms, cmd.reason)
            return True
        return False

    def stop(self) -> bool:
        self.counters.stops_sent += 1
        return self._call("stop", self.link.stop)

    def release(self) -> bool:
        self.counters.releases += 1
        return self._call("release", self.link.release)

    def _call(self, what: str, send: Callable[[], Any], retry_latched: bool = True) -> bool:
        try:
            send()
        except NakError as e:
            if (retry_latched and e.code == NakCode.ESTOP_LATCHED and self._may_release()
                    and self.release()):
                return self._call(what, send, retry_latched=False)
            return self._failed(what, e)
        except BridgeError as e:
            return self._failed(what, e)
        if self._failing is not None:
            log.info("link: commands acknowledged again (after %s)", self._failing)
            self._failing = None
        return True

    def _may_release(self) -> bool:
        """Release a latch the MCU set itself (boot, lost heartbeats), never a requested one."""
        t = self.latest
        reasons = EstopReason(t.estop_reasons) if t is not None else EstopReason.BOOT
        if EstopReason.HOST_REQUEST in reasons:
            return False
        log.warning("link: the MCU's e-stop is latched (%s); releasing it", repr(reasons))
        return True

    def _failed(self, what: str, e: BridgeError) -> bool:
        kind = type(e).__name__
        self.counters.failures[kind] += 1
        state = f"{what}: {kind}"
        if state != self._failing:
            log.warning("link: %s failed: %s (further failures counted quietly)", what, e)
            self._failing = state
        return False

    def close(self) -> None:
        """Stop the motors and pump (best effort), then close the link. Safe twice."""
        if self._closed:
            return
        self._closed = True
        if self.link.connected:
            self.stop()
        self.link.close()


class PolicyStep:
    """``tick.cells`` → ``tick.drive`` (clamped) and, now and then, ``tick.water``.

    The policy also sees the obstacles it saw a moment ago and no longer sees (the ground
    beside the front corners is out of view; robot/acting/memory.py, in the odometry frame).
    After a bump (the latest telemetry's bumper) the bump reflex drives for a moment instead
    of the camera policy: back off, turn away; boxed in, the robot turns on the spot to look
    for a way out (robot/acting/reflex.py). ``tick.decision`` keeps the policy's own decision.
    Stopped with only unsure or novel ground in the way, the robot may probe it first
    (robot/acting/probe.py, ``probe``; None = never): the bumper still outranks a probe.
    ``speed_cap`` (m/s; None = none) is set by the driving watch after the bump alarm: the
    adapter that drives is missing obstacles, so it drives slowly until another one takes over
    (0: it holds still — forward and turning — while the alarm's retrain runs).

    No frame this tick (a camera outage) → a stop command. Watering is checked every
    second of loop time against the zones, the pose and the soil moisture in ``state``, with
    ``now()`` as the local time (the simulation passes simulated time).
    """

    name = "policy"

    def __init__(
        self, ground: GroundGrid, camera: CameraModel, policy: PolicyConfig, robot: RobotConfig,
        watering: WateringConfig, zones: Sequence[Zone], state: RobotState,
        now: Callable[[float], datetime], probe: ProbeConfig | None = None,
    ) -> None:
        self.ground, self.camera = ground, camera
        self.policy, self.robot, self.watering = policy, robot, watering
        self.zones = tuple(zones)
        self.state = state
        self.now = now
        self.reasons: Counter[str] = Counter()
        self.reflex = BumpReflex()
        self.unstick = Unstick()
        self.memory = ObstacleMemory()
        self.prober = Prober(probe if probe is not None else ProbeConfig(enabled=False))
        self.speed_cap: float | None = None
        self._visible = visible_ground(ground, policy.lookahead_m)
        self._next_water_t = -math.inf

    def run(self, tick: Tick) -> None:
        if tick.cells is None:
            if tick.stop is None:
                tick.drive = stop(STOP_NO_FRAME, self.policy.command_ttl_ms)
                self.reasons[STOP_NO_FRAME] += 1
            return
        t = tick.cells.t
        remembered = recall(self.memory, tick.cells, self.ground, self._visible, self.policy,
                            self.state.pose, self.camera)
        cmd = drive_command(tick.cells, self.ground, self.policy, self.robot, remembered)
        tick.decision = cmd
        bumped = self.state.telemetry
        hit = bool(bumped and (bumped.bumper_left or bumped.bumper_right))
        probing = self.prober.command(t, tick.cells, self.ground, self.camera, cmd, self.policy,
                                      self.robot, self.state.pose, self.zones, hit,
                                      bool(bumped and stalled(bumped)))
        # A probe moves the robot: it is not boxed in, so the search starts afresh after it.
        search = self.unstick.command(t, probing if probing is not None else cmd)
        reflex = self.reflex.command(t, bool(bumped and bumped.bumper_left),
                                     bool(bumped and bumped.bumper_right),
                                     self.policy.command_ttl_ms) \
            or probing or search
        if reflex is not None:
            cmd = reflex  # the bumper outranks the camera; boxed in, look around
        if self.speed_cap is not None and cmd.v_mps > self.speed_cap:
            if self.speed_cap > 0:
                cmd = replace(cmd, v_mps=self.speed_cap, reason=f"{cmd.reason}+caution")
            else:  # hold: no turn on the spot either
                cmd = replace(cmd, v_mps=0.0, omega_radps=0.0, reason=f"{cmd.reason}+hold")
        self.reasons[cmd.reason] += 1
        tick.drive = clamp_drive(cmd, self.policy.max_speed_mps, self.policy.max_omega_radps)
        t = tick.cells.t
        if self.zones and self.state.pose is not None and t >= self._next_water_t:
            self._next_water_t = t + WATER_CHECK_PERIOD_S
            water = water_command(self.zones, self.state.pose, self.camera,
                                  self.state.moisture, self.state.last_watered, self.now(t),
                                  self.watering)
            if water is not None:
                tick.water = clamp_water(water, self.watering.max_duration_ms)

    def shutdown(self) -> None:
        pass


class ActuationStep:
    """Sends ``tick.drive`` and ``tick.water`` over the link. Shut down first: motors stop.

    With ``background`` (the default) a sender thread carries the commands, so the loop never
    waits for the serial round trip: the latest drive command replaces one not yet sent (the
    MCU only needs the newest; ``superseded`` counts the replaced ones), watering commands
    queue and are all sent.
    """

    name = "actuation"
    safety_first = True

    def __init__(self, link: RobotLink, state: RobotState, now: Callable[[float], datetime],
                 background: bool = True) -> None:
        self.link = link
        self.state = state
        self.now = now
        self.superseded = 0
        self._background = background
        self._drive: DriveCommand | None = None
        self._sent: tuple[DriveCommand, float] | None = None  # the last drive sent, and when
        self.renewed = 0
        self._waters: deque[tuple[WaterCommand, float]] = deque()
        self._work = threading.Condition()
        self._stopping = False
        self._stop_now = False
        self._busy = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._sender, name="actuation", daemon=True)
            self._thread.start()

    def run(self, tick: Tick) -> None:
        t = tick.frame.t if tick.frame is not None else 0.0
        if not self._background:
            if tick.drive is not None:
                self.link.drive(tick.drive)
            if tick.water is not None:
                self._water(tick.water, t)
            return
        if tick.drive is None and tick.water is None:
            return
        with self._work:
            if tick.drive is not None:
                if self._drive is not None:
                    self.superseded += 1
                self._drive = tick.drive
            if tick.water is not None:
                self._waters.append((tick.water, t))
            self._work.notify()

    def stop_now(self) -> None:
        """Send a Stop (motors off, pump closed) before anything else; commands queued but not
        yet sent are dropped. Returns at once (the owner's stop button, from the loop)."""
        if not self._background:
            self.link.stop()
            return
        with self._work:
            self._stop_now = True
            self._drive = None
            self._waters.clear()
            self._work.notify()

    def _water(self, cmd: WaterCommand, t: float) -> None:
        if self.link.water(cmd):
            self.state.last_watered[cmd.zone] = self.now(t)

    def _sender(self) -> None:
        while True:
            with self._work:
                self._busy = False
                self._work.notify_all()
                while (not self._stopping and self._drive is None and not self._waters
                       and not self._stop_now):
                    self._work.wait()
                if self._stopping:
                    return
                stop_first, self._stop_now = self._stop_now, False
                drive, self._drive = self._drive, None
                water = self._waters.popleft() if self._waters else None
                self._busy = True
            if stop_first:
                self._sent = None
                self.link.stop()
            if drive is not None:
                self._sent = (drive, time.monotonic())
                self.link.drive(drive)
            if water is not None:
                self._water(*water)

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Wait until every command handed over so far has been sent (tests, benchmarks)."""
        if not self._background:
            return True
        with self._work:
            return self._work.wait_for(
                lambda: not (self._busy or self._drive or self._waters or self._stop_now),
                timeout_s)

    def flush_renewed(self, timeout_s: float = 2.0) -> bool:
        """:meth:`flush`, then send the last drive command again if half its lifetime has
        passed on the wall clock since it was sent.

        For a simulation faster than real time, whose clock stands still while the host
        thinks: the MCU's command lifetime runs on the wall clock, so one slow tick on a busy
        machine would let a command expire that, in simulated time, was 0.1 s old — and two runs
        of the same garden would part ways there. Never on the robot: there a tick slower than
        the lifetime must stop the wheels.
        """
        if not self.flush(timeout_s):
            return False
        with self._work:
            sent = self._sent
            if sent is None or self._drive is not None:
                return True
            drive, at = sent
            if time.monotonic() - at < drive.ttl_ms / 2000:
                return True
            self._drive = drive
            self.renewed += 1
            self._work.notify()
        return self.flush(timeout_s)

    def shutdown(self) -> None:
        if self._thread is not None:
            with self._work:
                self._stopping = True
                self._work.notify_all()
            self._thread.join(timeout=2)
            self._thread = None
        self.link.close()


def stalled(msg: Telemetry) -> bool:
    """Whether the motors are on and one draws overcurrent: the wheels are stalled."""
    return bool(msg.motors_on and max(msg.current_left_ma, msg.current_right_ma)
                >= OVERCURRENT_MA)


def moisture_by_zone(msg: Telemetry, zone_ids: Iterable[int]) -> dict[int, float]:
    """Zone id → soil moisture (0..1) from a Telemetry's per-zone probes."""
    return {i: msg.moisture_permille[i] / 1000 for i in zone_ids
            if 0 <= i < len(msg.moisture_permille)}
