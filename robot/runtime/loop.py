"""The control loop: a short list of steps run in order, at a fixed rate, until told to stop.

    loop = Loop([camera, perception, policy, actuation, telemetry, learning, status],
                rate_hz=30, max_ticks=600)
    result = loop.run()        # every step's shutdown() runs in `finally`, whatever happened

Each iteration makes one :class:`Tick` — the typed record the steps read and fill in (the
camera step sets ``frame``, perception ``cells``, the policy ``drive`` …); a step that finds
nothing to do leaves its fields alone. A step may set ``tick.stop`` to end the loop after this
tick (the end of a recording); ``Loop.request_stop()`` (a signal handler) ends it before the
next. ``max_ticks`` and ``max_duration_s`` bound a run, which is what makes the loop testable.

Shutdown order: steps marked ``safety_first`` (the serial link: motors stop, pump closes) go
first, then the others in reverse order. A failing shutdown is logged and the rest still run.
While running, the loop never waits for the learner: the learner step only starts and polls a
process (at shutdown it may wait for a retrain to finish, when asked to; that time is not counted
in the run's duration).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from robot.acting.policy import DriveCommand, WaterCommand
from robot.seeing.camera import CameraFrame
from robot.seeing.perception import CellMap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """Which part of the input a frame belongs to (one recording of a sequence)."""

    index: int  # position in the sequence
    name: str  # e.g. the recording's folder name
    season: str | None
    frame: int  # frame number within the segment (as played, after any frame step)
    frames: int | None  # frames the segment will play, when known
    held_back: bool = False  # an evaluation frame: never learned from


@dataclass
class Tick:
    """What one iteration of the loop saw and did. Steps fill in their fields in order."""

    index: int
    wall_s: float  # time.monotonic() when the tick started
    frame: CameraFrame | None = None  # camera step
    frame_wall_s: float | None = None  # camera step: time.monotonic() when the frame was read
    segment: Segment | None = None  # camera step, for sequences of recordings
    truth_pose: tuple[float, float, float] | None = None  # simulated world: the true pose
    fresh_after_uptime_ms: int | None = None  # simulated world: wait for telemetry this new
    cells: CellMap | None = None  # perception step
    truth: np.ndarray | None = None  # (h, w) cell labels of the frame, when it has a label map
    accuracy: float | None = None  # share of labelled cells perception got right
    decision: DriveCommand | None = None  # policy step: the camera policy's own decision
    drive: DriveCommand | None = None  # policy step: the (clamped) command to send
    water: WaterCommand | None = None  # policy step
    records: list[dict[str, Any]] = field(default_factory=list)  # telemetry step
    stop: str | None = None  # set by a step: end the loop after this tick, and why


class Step(Protocol):
    """One part of the loop: ``run`` reads and fills in a tick; ``shutdown`` releases what the
    step holds and must be safe to call twice."""

    name: str

    def run(self, tick: Tick) -> None: ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True)
class LoopResult:
    ticks: int
    duration_s: float
    reason: str  # why it ended: a step's stop reason, "max_ticks", "max_duration", "stopped"
    step_ms: dict[str, float]  # median milliseconds per step over the last ticks

    @property
    def rate_hz(self) -> float:
        return self.ticks / self.duration_s if self.duration_s > 0 else 0.0


class Loop:
    """Runs ``steps`` once per tick at ``rate_hz`` (0 = as fast as they go)."""

    def __init__(
        self, steps: Sequence[Step], rate_hz: float = 0.0, max_ticks: int | None = None,
        max_duration_s: float | None = None, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_hz < 0:
            raise ValueError(f"rate_hz must be >= 0, got {rate_hz}")
        self.steps = list(steps)
        self.period_s = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self.max_ticks = max_ticks
        self.max_duration_s = max_duration_s
        self._clock = clock
        self._sleep = sleep
        self._stop = threading.Event()
        self._stop_reason = "stopped"
        self._step_s: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=1000))
        self._shut = False

    def request_stop(self, reason: str = "stopped") -> None:
        """End the loop before its next tick (safe from a signal handler or another thread)."""
        self._stop_reason = reason
        self._stop.set()

    def run(self) -> LoopResult:
        start = self._clock()
        ticks = 0
        reason = "stopped"
        next_at = start
        try:
            while True:
                if self._stop.is_set():
                    reason = self._stop_reason
                    break
                if self.max_ticks is not None and ticks >= self.max_ticks:
                    reason = "max_ticks"
                    break
                now = self._clock()
                if self.max_duration_s is not None and now - start >= self.max_duration_s:
                    reason = "max_duration"
                    break
                tick = Tick(ticks, now)
                for step in self.steps:
                    t0 = time.perf_counter()
                    step.run(tick)
                    self._step_s[step.name].append(time.perf_counter() - t0)
                ticks += 1
                if tick.stop:
                    reason = tick.stop
                    break
                if self.period_s:
                    next_at = max(next_at + self.period_s, self._clock() - self.period_s)
                    wait = next_at - self._clock()
                    if wait > 0:
                        self._pause(wait)
        finally:
            end = self._clock()  # before shutdown, which may wait for a learner to finish
            self.shutdown()
        return LoopResult(ticks, end - start, reason, self.step_medians_ms())

    def _pause(self, seconds: float) -> None:
        if self._sleep is time.sleep:
            self._stop.wait(seconds)  # a stop request ends the pause at once
        else:
            self._sleep(seconds)

    def step_medians_ms(self) -> dict[str, float]:
        return {name: 1e3 * statistics.median(v) for name, v in self._step_s.items() if v}

    def shutdown(self) -> None:
        """Shut every step down once: safety-first steps, then the rest in reverse order."""
        if self._shut:
            return
        self._shut = True
        ordered = ([s for s in self.steps if getattr(s, "safety_first", False)]
                   + [s for s in reversed(self.steps) if not getattr(s, "safety_first", False)])
        for step in ordered:
            try:
                step.shutdown()
            except Exception:  # one broken shutdown must not leave the motors or a process on
                log.exception("shutting down %s failed", step.name)
