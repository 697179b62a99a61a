"""The simulated world: the MCU emulator in its own process, told what the recording knows.

The robot's loop talks to the emulator over a real pseudo-terminal through the same pyserial
link as on the robot. What the emulator's sensors report comes from the recording: before
each frame is processed, :class:`EmulatorWorld` feeds the emulator, through its JSON control
channel, the truth at that frame's time — the pose (the emulator turns pose increments into
wheel ticks, inflated by slip), bumper, wheel slip, motor currents, battery voltage and the
soil moisture of each watering zone. The loop's telemetry step then waits for the first
telemetry that reflects it. A plain video has no telemetry: then nothing is fed and the
emulator's own model drives the sensors (wheels turn as commanded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from firmware_bridge.board import BoardError, PtyProcess, emulator_process
from firmware_bridge.constants import N_ZONES
from robot.acting.config import Zone
from robot.acting.policy import zones_from_meta
from robot.common.errors import GardenbotError, RecordingError
from robot.common.geometry import equal_area_circle
from robot.runtime.loop import Tick
from robot.seeing.recording import Recording, RecordingMeta

log = logging.getLogger(__name__)

MAX_FED_SLIP = 0.95  # the emulator takes slip < 1; a wheel spinning in place is near 1


class SimulationError(GardenbotError, RuntimeError):
    """The simulated world failed: the emulator died or stopped answering."""


@dataclass(frozen=True)
class SimZone:
    """A watering zone of a recording's garden, as the policy and the emulator see it."""

    zone: Zone  # id = the pump's zone number (0..N_ZONES-1)
    name: str  # the recording's name for it ("z0", or the id as text)


def zones_of(meta: RecordingMeta) -> list[SimZone]:
    """Watering zones from a recording's ``meta.extra``.

    Two layouts are read: ``zones`` = [{id, x_m, y_m, radius_m}] (what `gardenbot record`
    writes, the config's zones) and ``watering_zones`` = [{zone, outline: [[x, y], ...]}] (the
    synthetic garden generator), whose outlines become circles of equal area around their
    centroid. Zones beyond the pump's N_ZONES valves are left out.
    """
    extra = meta.extra or {}
    try:
        out = [SimZone(z, str(z.id)) for z in zones_from_meta(extra)]
    except ValueError as e:
        raise RecordingError(str(e)) from e
    for i, z in enumerate(extra.get("watering_zones") or []):
        circle = equal_area_circle(np.asarray(z.get("outline") or [], float))
        if circle is not None:
            out.append(SimZone(Zone(i, *circle), str(z.get("zone", i))))
    usable = [z for z in out if 0 <= z.zone.id < N_ZONES]
    if len(usable) < len(out):
        log.info("%d watering zones beyond the pump's %d valves are not watered",
                 len(out) - len(usable), N_ZONES)
    return usable


class RecordedTruth:
    """A recording's telemetry as the world's truth over time."""

    def __init__(self, rec: Recording, zones: Sequence[SimZone]) -> None:
        self.records = rec.telemetry()
        self.times = np.array([float(r["t"]) for r in self.records])
        moist = [i for i, r in enumerate(self.records) if r.get("soil_moisture") is not None]
        self.moisture_idx = np.array(moist, int)
        self.moisture_times = self.times[self.moisture_idx] if moist else np.zeros(0)
        self.zone_index = {z.name: z.zone.id for z in zones}

    def __bool__(self) -> bool:
        return bool(self.records)

    def _zone_id(self, zone: Any) -> int:
        """A probe's zone: a generator's zone name, or the pump zone number a robot writes."""
        if isinstance(zone, int) and not isinstance(zone, bool):
            return zone
        return self.zone_index.get(str(zone), -1)

    def at(self, t: float) -> dict[str, Any] | None:
        """The latest record at or before ``t`` (the first one before the recording starts)."""
        if not self.records:
            return None
        i = max(0, int(np.searchsorted(self.times, t + 1e-9, side="right")) - 1)
        return self.records[i]

    def moisture_permille(self, t: float) -> list[int | None]:
        """Per pump zone, the mean of its probes' latest readings (None: no probe)."""
        out: list[list[float]] = [[] for _ in range(N_ZONES)]
        if len(self.moisture_idx):
            j = int(np.searchsorted(self.moisture_times, t + 1e-9, side="right")) - 1
            readings = self.records[int(self.moisture_idx[max(j, 0)])]["soil_moisture"]
            for k, m in enumerate(readings if isinstance(readings, list) else [readings]):
                zone, value = (self._zone_id(m.get("zone")), m.get("value")) \
                    if isinstance(m, dict) else (k, m)
                if 0 <= zone < N_ZONES and isinstance(value, (int, float)):
                    out[zone].append(float(value))
        return [round(1000 * min(max(float(np.mean(v)), 0.0), 1.0)) if v else None
                for v in out]


def truth_feed(rec: dict[str, Any], moisture: list[int | None]) -> dict[str, Any]:
    """The emulator feed for one truth record (field names of docs/recording.md)."""
    slip = float(rec.get("slip", rec.get("wheel_slip", 0.0)) or 0.0)
    slip = min(max(slip, 0.0), MAX_FED_SLIP)
    feed: dict[str, Any] = {
        "pose": [float(rec["x_m"]), float(rec["y_m"]), float(rec["theta_rad"])],
        "bumper_left": bool(rec.get("bumper", False)),
        "bumper_right": bool(rec.get("bumper", False)),
        "stall_left": bool(rec.get("stall", False)),
        "stall_right": bool(rec.get("stall", False)),
        "slip_left": slip, "slip_right": slip,
        "moisture_permille": moisture,
    }
    for side in ("left", "right"):
        amps = rec.get(f"motor_current_{side}_a")
        feed[f"current_{side}_ma"] = None if amps is None else \
            min(65_535, max(0, round(float(amps) * 1000)))
    volts = rec.get("battery_v")
    feed["battery_mv"] = None if volts is None else min(65_535, max(0, round(float(volts) * 1000)))
    return feed


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class McuEmulator:
    """The MCU emulator in its own process (a real pseudo-terminal) and its JSON control channel.

    ``fresh_after_ms()`` is the MCU uptime after which a telemetry reflects what was fed just
    now (the telemetry step waits for it). Raises :class:`SimulationError` when the emulator
    dies or refuses a request.
    """

    def __init__(self) -> None:
        self.proc: PtyProcess = emulator_process()
        try:
            self.proc.start()
        except BoardError as e:
            raise SimulationError(f"the MCU emulator did not start: {e}") from e
        try:
            self._boot_lower_ms = self._boot_estimate()
        except BaseException:
            self.proc.close(kill=True)  # in its own session: nothing else would stop it
            raise
        self.final_state: dict[str, Any] | None = None  # the MCU's state when it was closed

    @property
    def port(self) -> str:
        return self.proc.port

    def request(self, **request: Any) -> dict[str, Any]:
        if not self.proc.alive():
            raise SimulationError(f"the MCU emulator (pid {self.proc.pid}) died")
        try:
            reply = self.proc.request(**request)
        except (BoardError, OSError, ValueError) as e:
            alive = "" if self.proc.alive() else " and died"
            raise SimulationError(f"the MCU emulator stopped answering{alive}: {e}") from e
        if not reply.get("ok"):
            raise SimulationError(f"the MCU emulator refused {request.get('cmd')}: "
                                  f"{reply.get('error')}")
        return reply

    def _boot_estimate(self) -> int:
        """A lower bound of the emulator's boot time on this host's monotonic clock (ms)."""
        before = _monotonic_ms()
        uptime = int(self.request(cmd="state")["state"]["uptime_ms"])
        return before - uptime

    def state(self) -> dict[str, Any]:
        return self.request(cmd="state")["state"]

    def fresh_after_ms(self) -> int:
        return _monotonic_ms() - self._boot_lower_ms + 1

    def check_alive(self) -> None:
        if not self.proc.alive():
            raise SimulationError(f"the MCU emulator (pid {self.proc.pid}) died")

    def close(self) -> None:
        if self.final_state is None and self.proc.alive():
            try:
                self.final_state = self.state()
            except SimulationError as e:
                log.warning("%s", e)
        self.proc.close()


class EmulatorWorld:
    """Loop step: keep the emulator's sensors on the recording's truth, frame by frame.

    Sets ``tick.truth_pose`` and ``tick.fresh_after_uptime_ms`` (the telemetry step waits for
    a telemetry at least that new). Raises :class:`SimulationError` when the emulator dies.
    """

    name = "world"

    def __init__(self, truths: Sequence[RecordedTruth | None], offsets: Sequence[float],
                 on_segment: Any = None) -> None:
        self.truths = list(truths)
        self.offsets = list(offsets)
        self.on_segment = on_segment  # called with (segment index, first truth record)
        self.mcu = McuEmulator()
        self._segment: int | None = None

    @property
    def port(self) -> str:
        return self.mcu.port

    @property
    def final_state(self) -> dict[str, Any] | None:
        return self.mcu.final_state

    def run(self, tick: Tick) -> None:
        if tick.frame is None:
            self.mcu.check_alive()
            return
        i = tick.segment.index if tick.segment is not None else 0
        truth = self.truths[i] if i < len(self.truths) else None
        t_rec = tick.frame.t - self.offsets[i] if i < len(self.offsets) else tick.frame.t
        rec = truth.at(t_rec) if truth else None
        if i != self._segment:
            self._segment = i
            self.mcu.request(cmd="feed", pose=None)  # carried to a new place: no wheel travel
            if self.on_segment is not None:
                self.on_segment(i, rec)
        if rec is None:
            self.mcu.check_alive()
            return
        self.mcu.request(cmd="feed", **truth_feed(rec, truth.moisture_permille(t_rec)))
        tick.truth_pose = (float(rec["x_m"]), float(rec["y_m"]), float(rec["theta_rad"]))
        tick.fresh_after_uptime_ms = self.mcu.fresh_after_ms()

    def shutdown(self) -> None:
        self.mcu.close()
