"""The closed loop: the robot's own drive commands move it through a simulated garden.

:class:`GardenWorld` is both the loop's frame source and its world step. Each frame:

1. the command the robot sent last tick is delivered (the actuation step's ``flush``), and the
   MCU emulator says what its motors and pump are doing now — the MCU's own rules apply: a
   command older than its lifetime, a lost heartbeat (the host died) or an e-stop leave the
   wheels still;
2. the garden moves the robot with those wheel speeds for one frame interval (contacts stop
   it and close the bumper, mud makes the wheels slip) and waters the bed of an open valve;
3. the emulator is fed the new truth (pose → wheel ticks, bumper, stall, slip, the beds' soil
   moisture) and asked to report it at once;
4. the camera view at the new pose is the frame.

The garden itself (rendering, physics, soil) lives in ``tools/garden/live.py``: the robot
package never imports the tools, so it is handed in as a :class:`SimulatedGarden`.

A run is a sequence of :class:`Stage` (a season for so many simulated seconds); at each stage the
robot starts again from its dock. The last stage can be extended (``extend``) so that an
adapter published late still gets to drive (`gardenbot simulate` waits for it to drive a fixed
number of frames).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from firmware_bridge.constants import N_ZONES, PUMP_CLOSED
from robot.acting.config import Zone
from robot.common.classes import SEASONS
from robot.common.geometry import CameraModel
from robot.runtime.loop import Segment, Tick
from robot.seeing.camera import CameraFrame
from robot.sim.outcomes import Coverage, Outcomes
from robot.sim.world import MAX_FED_SLIP, McuEmulator

log = logging.getLogger(__name__)

STUCK_AFTER_S = 2.0  # standing still this long (wanted or not) counts as stuck from then on
STILL_M = 0.002  # less translation than this in a frame interval is standing still …
STILL_RAD = 0.01  # … unless it turned this much
TIMING_WINDOW = 500  # frames the timing medians are taken over
WATER_AHEAD_M = 0.6  # the zone watered should be the one nearest this point ahead of the robot


class StepLike(Protocol):
    pose: tuple[float, float, float]
    moved_m: float
    bumper: bool
    stall: bool
    slip: float


class SimulatedGarden(Protocol):
    """What the closed loop needs of a garden (``tools.garden.live.LiveGarden`` is one)."""

    camera: CameraModel
    season: str
    radius_m: float  # the robot's round body
    start_pose: tuple[float, float, float]

    @property
    def name(self) -> str: ...

    @property
    def pose(self) -> tuple[float, float, float]: ...

    def set_season(self, season: str) -> None: ...

    def place(self, pose: tuple[float, float, float] | None = None) -> None: ...

    def step(self, v_left_mps: float, v_right_mps: float, dt: float) -> StepLike: ...

    def view(self) -> tuple[np.ndarray, np.ndarray]: ...

    def eval_views(self, n: int, seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]: ...

    def zones(self) -> list[Zone]: ...

    def moisture_permille(self) -> list[int | None]: ...

    def water(self, zone: int, seconds: float) -> None: ...

    def in_bed(self, x_m: float, y_m: float) -> bool: ...

    def lawn_mask(self) -> tuple[np.ndarray, float]: ...


@dataclass(frozen=True)
class Stage:
    season: str
    seconds: float


def parse_stages(seasons: str, seconds: float) -> list[Stage]:
    """``"summer,autumn"`` → one stage per season, each ``seconds`` long; a clear ValueError
    names the seasons when one is not."""
    names = [s.strip() for s in seasons.split(",") if s.strip()]
    if not names:
        raise ValueError(f"no season given; name one or more of {', '.join(SEASONS)}")
    bad = [s for s in names if s not in SEASONS]
    if bad:
        raise ValueError(f"unknown season {bad[0]!r}; the seasons are {', '.join(SEASONS)}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"a season's time must be > 0 seconds, got {seconds!r}")
    return [Stage(s, float(seconds)) for s in names]


class GardenWorld:
    """Frame source and loop step of the closed loop (see the module's doc)."""

    name = "world"

    def __init__(self, garden: SimulatedGarden, stages: Sequence[Stage], fps: float,
                 outcomes: Outcomes, *,
                 on_stage: Callable[[int, tuple[float, float, float]], None] | None = None,
                 extend: Callable[[], bool] | None = None, max_extra_s: float = 120.0) -> None:
        if not stages:
            raise ValueError("a closed-loop run needs at least one stage")
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be > 0, got {fps!r}")
        self.garden, self.stages, self.dt = garden, list(stages), 1.0 / fps
        self.outcomes = outcomes
        self.on_stage = on_stage  # called with (stage index, start pose) when a stage starts
        # The last stage runs on while ``extend`` says so, up to max_extra_s — simulated or on
        # the wall clock, whichever is longer: faster than real time on a busy machine, 120
        # simulated seconds pass in a few wall seconds while the retrain they wait for runs.
        self.extend = extend
        self.max_extra_s = max_extra_s
        self._extra_since: float | None = None  # time.monotonic() at the first extra frame
        self.before_physics: Callable[[], None] | None = None  # deliver the last command
        self.mcu = McuEmulator()
        self.segment: Segment | None = None
        self.t = 0.0
        self.frames = 0
        self.extra_frames = 0
        self._finished = False
        self._stage = -1
        self._k = 0  # frame within the stage
        self._fresh: int | None = None
        self._bumper = False
        self._still_s = 0.0
        self._pump: int = PUMP_CLOSED
        self._last: StepLike | None = None
        self._ms: dict[str, list[float]] = {"render": [], "world": []}
        self._zones = garden.zones()
        lawn, res = garden.lawn_mask()
        self._lawn, self._res = lawn, res

    @property
    def port(self) -> str:
        return self.mcu.port

    def timing_ms(self) -> dict[str, float]:
        """Median milliseconds per frame over the last frames: rendering the camera view, and
        the rest of the world (physics, the emulator's state, feed and report)."""
        return {k: round(float(np.median(v)), 2) for k, v in self._ms.items() if v}

    @property
    def final_state(self) -> dict[str, Any] | None:
        return self.mcu.final_state

    def stage_frames(self, i: int) -> int:
        return max(1, round(self.stages[i].seconds / self.dt))

    frames_played = stage_frames  # as a sequence of recordings says it (the button's timing)

    # --- the frame source ------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._finished

    def read_frame(self) -> CameraFrame | None:
        if self._finished:
            return None
        t0 = time.perf_counter()
        if self._stage >= 0:
            self._physics()
        if self._stage < 0 or self._k >= self.stage_frames(self._stage):
            last = self._stage == len(self.stages) - 1
            if last and self._may_extend():
                self.extra_frames += 1
            elif last:
                self._finished = True
                return None
            else:
                self._start_stage(self._stage + 1)
        t1 = time.perf_counter()
        image, labels = self.garden.view()
        t2 = time.perf_counter()
        stage = self.stages[self._stage]
        self.segment = Segment(self._stage, self.garden.name, stage.season, self._k,
                               self.stage_frames(self._stage))
        self._k += 1
        self._feed()
        self._ms["render"].append(1e3 * (t2 - t1))
        self._ms["world"].append(1e3 * (t1 - t0 + time.perf_counter() - t2))
        for v in self._ms.values():
            del v[:-TIMING_WINDOW]
        frame = CameraFrame(self.frames, self.t, image, labels)
        self.frames += 1
        return frame

    def read(self) -> tuple[bool, np.ndarray | None, float]:  # OpenCV style, as every source
        f = self.read_frame()
        return (False, None, float("nan")) if f is None else (True, f.image, f.t)

    def close(self) -> None:
        self._finished = True

    # --- the loop step --------------------------------------------------------------------

    def run(self, tick: Tick) -> None:
        if tick.frame is None:
            self.mcu.check_alive()
            return
        tick.truth_pose = self.garden.pose
        tick.fresh_after_uptime_ms = self._fresh

    def shutdown(self) -> None:
        self.mcu.close()

    # --- inside -----------------------------------------------------------------------------

    def _may_extend(self) -> bool:
        if self.extend is None:
            return False
        if self._extra_since is None:
            self._extra_since = time.monotonic()
        if self.extra_frames * self.dt >= self.max_extra_s and \
                time.monotonic() - self._extra_since >= self.max_extra_s:
            return False
        return bool(self.extend())

    def _start_stage(self, i: int) -> None:
        self._stage, self._k = i, 0
        season = self.stages[i].season
        if season != self.garden.season:
            self.garden.set_season(season)
        self.garden.place()  # the day starts at the dock
        self.mcu.request(cmd="feed", pose=None)  # carried there: no wheel travel
        self._still_s, self._last, self._bumper = 0.0, None, False
        log.info("stage %d: %s, %.0f s, from the dock at (%.2f, %.2f)", i, season,
                 self.stages[i].seconds, *self.garden.pose[:2])
        if self.on_stage is not None:
            self.on_stage(i, self.garden.pose)

    def _physics(self) -> None:
        if self.before_physics is not None:
            self.before_physics()
        state = self.mcu.state()
        vl, vr = state["motor_left_mmps"] / 1000.0, state["motor_right_mmps"] / 1000.0
        before = self.garden.pose
        result = self.garden.step(vl, vr, self.dt)
        pump = int(state["pump_zone"])
        if pump != PUMP_CLOSED and 0 <= pump < N_ZONES:
            self.garden.water(pump, self.dt)
        self.t += self.dt
        self._last = result
        self._account(before, result, pump)

    def _account(self, before: tuple[float, float, float], result: StepLike,
                 pump: int) -> None:
        tally = self.outcomes.current()
        x, y, th = result.pose
        turned = abs((th - before[2] + math.pi) % (2 * math.pi) - math.pi)
        still = result.moved_m < STILL_M and turned < STILL_RAD
        self._still_s = self._still_s + self.dt if still else 0.0
        new_bump = result.bumper and not self._bumper
        self._bumper = result.bumper
        new_pump = pump != PUMP_CLOSED and pump != self._pump
        self._pump = pump
        if tally is None or self.outcomes.key is None:
            return
        tally.seconds += self.dt
        tally.distance_m += result.moved_m
        tally.bumps += new_bump
        tally.still_s += self.dt if still else 0.0
        if self._still_s >= STUCK_AFTER_S:
            tally.stuck_s += STUCK_AFTER_S if self._still_s - self.dt < STUCK_AFTER_S \
                else self.dt
        tally.in_bed_s += self.dt if self.garden.in_bed(x, y) else 0.0
        if new_pump:
            right = self._zone_ahead(result.pose)
            tally.waterings_right += pump == right
            tally.waterings_wrong += pump != right
        self.outcomes.coverage_of(
            self.outcomes.key,
            lambda: Coverage(self._lawn, self._res, self.garden.radius_m)).visit(x, y)

    def _zone_ahead(self, pose: tuple[float, float, float]) -> int | None:
        x, y, th = pose
        px, py = x + WATER_AHEAD_M * math.cos(th), y + WATER_AHEAD_M * math.sin(th)
        best = min(self._zones, default=None,
                   key=lambda z: math.hypot(z.x_m - px, z.y_m - py) - z.radius_m)
        return best.id if best is not None else None

    def _feed(self) -> None:
        """Tell the MCU what its sensors read now, and have it report at once."""
        x, y, th = self.garden.pose
        res = self._last
        slip = min(max(res.slip if res else 0.0, 0.0), MAX_FED_SLIP)
        stall = bool(res and res.stall)
        self.mcu.request(cmd="feed", pose=[x, y, th], bumper_left=self._bumper,
                         bumper_right=self._bumper, stall_left=stall, stall_right=stall,
                         slip_left=slip, slip_right=slip,
                         moisture_permille=self.garden.moisture_permille())
        # the report of this feed: the Telemetry sent now carries at least this uptime
        self._fresh = int(self.mcu.request(cmd="telemetry")["uptime_ms"])


def hold_back_views(garden: SimulatedGarden, seasons: Sequence[str], perception: Any,
                    board: Any, n: int, seed: int = 1) -> None:
    """Fill ``board``'s held-back cells with ``n`` views per season from fixed poses of the
    garden (the same poses in every season), never driven through or learned from."""
    from robot.seeing.labels import cell_labels

    first = garden.season
    for season in dict.fromkeys(seasons):
        if garden.season != season:  # a new look costs most of a second
            garden.set_season(season)
        for image, labels in garden.eval_views(n, seed):
            cells = perception.step(image)
            truth = cell_labels(labels, cells.grid_hw, len(cells.class_names))
            board.hold_back(season, cells.features, truth)
    if garden.season != first:
        garden.set_season(first)
