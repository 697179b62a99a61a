"""A small running robot for the dashboard tests: the real loop, owner-command and snapshot
steps, the real actuation step and serial link to the in-process MCU emulator, a real replay
buffer and question board. Perception and the policy are stand-ins that see a painted frame
and ask to drive on; what is under test is what the owner's commands make of that.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from robot.acting.config import PolicyConfig, WateringConfig, Zone
from robot.acting.policy import DriveCommand
from robot.common.classes import DEFAULT_CLASSES
from robot.common.samples import make_cells
from robot.learning.replay_buffer import ReplayBuffer
from robot.runtime.learning import CellOrigin, Memory
from robot.runtime.loop import Loop, Tick
from robot.seeing.camera import CameraFrame
from robot.seeing.perception import CellMap

GRID = (15, 20)
FEATURE_DIM = 8


def need_tool(path: str, package: str) -> str:
    """The tool's path; skip (on a dev machine) or fail (in CI) when it is not installed."""
    found = shutil.which(path) or (path if os.path.exists(path) else None)
    if found:
        return found
    why = (f"{path} is not installed (Debian package {package}; scripts/system-deps.sh "
           "installs it)")
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PaintedCamera:
    """A frame and a cell map per tick; every frame differs (a moving stripe), the robot is
    unsure of a patch of cells that look alike (a question to ask) and sees lawn elsewhere."""

    name = "camera"

    def __init__(self) -> None:
        self.n = 0

    def run(self, tick: Tick) -> None:
        self.n += 1
        image = np.full((240, 320, 3), (60, 160, 60), np.uint8)
        x = (self.n * 7) % 320
        image[:, x:x + 20] = (200, 200, 200)
        tick.frame = CameraFrame(self.n, self.n / 30, image)
        classes = np.zeros(GRID, np.uint8)
        confidence = np.full(GRID, 0.95, np.float32)
        confidence[8:11, 5:9] = 0.3  # unsure here
        classes[8:11, 5:9] = 3
        rng = np.random.default_rng(self.n)
        features = rng.normal(size=(*GRID, FEATURE_DIM)).astype(np.float32)
        features[8:11, 5:9] = 3.0  # the patch: cells that look alike
        tick.cells = CellMap(classes, confidence, np.full(GRID, 0.5, np.float32),
                             DEFAULT_CLASSES, tick.frame.t, "v1", features=features)

    def shutdown(self) -> None:
        pass


class WantsToDrive:
    """The policy stand-in: always asks to drive forward (or to stop, when told)."""

    name = "policy"

    def __init__(self) -> None:
        self.policy = PolicyConfig()
        self.watering = WateringConfig(quiet_hours="", max_duration_ms=8000)
        self.zones = (Zone(1, 1.0, 0.0, 0.3), Zone(2, 2.0, 0.0, 0.3))
        self.reason = "cruise"

    def run(self, tick: Tick) -> None:
        if self.reason == "cruise":
            tick.drive = DriveCommand(0.3, 0.0, 300, "cruise")
        else:
            tick.drive = DriveCommand(0.0, 0.0, 300, self.reason, "mean confidence 0.40 < 0.60")

    def shutdown(self) -> None:
        pass


class LearnerStandIn:
    """Records retrain requests; ``running`` is set by the test."""

    name = "learner"

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.running = False
        self.retrains: list[Any] = []
        self.state = "idle"

    def request(self, reason: str) -> None:
        self.requests.append(reason)

    def run(self, tick: Tick) -> None:
        pass

    def shutdown(self) -> None:
        pass


class StoreStandIn:
    def __init__(self) -> None:
        self.current = 2
        self.rolled_back: list[int] = []

    def rollback(self, version: int) -> None:
        from robot.common.errors import StoreError

        if version not in (1, 2):
            raise StoreError(f"no adapter version {version}")
        self.rolled_back.append(version)
        self.current = version

    def pointer_stamp(self) -> tuple[int, int, int]:
        return (self.current, 0, 0)

    def version_numbers(self) -> list[int]:
        return [1, 2]

    def current_version(self) -> int:
        return self.current

    def versions(self) -> list[Any]:
        return [SimpleNamespace(version=v, error=None, meta={"reason": "test"}) for v in (1, 2)]


@dataclass
class RunningRobot:
    loop: Loop
    thread: threading.Thread
    emulator: Any
    policy: WantsToDrive
    learner: LearnerStandIn
    store: StoreStandIn
    memory: Memory
    service: Any
    local_time: list[datetime] = field(default_factory=lambda: [datetime(2026, 6, 1, 12, 0)])

    def ticks(self) -> int:
        snap = self.service.holder.latest
        return -1 if snap is None else snap.tick

    def wait_ticks(self, n: int, timeout_s: float = 10.0) -> None:
        start = self.ticks()
        deadline = time.monotonic() + timeout_s
        while self.ticks() < start + n:
            assert time.monotonic() < deadline, f"the loop did not tick {n} times"
            time.sleep(0.02)


def start_robot(service_factory: Any, mqtt: Any = None) -> RunningRobot:
    """The loop at 30 ticks/s in a thread, with the dashboard ``service_factory(cfg)`` made."""
    from firmware_bridge.emulator import Emulator
    from robot.dashboard.steps import RobotHandles
    from robot.runtime.config import Config, SerialConfig
    from robot.runtime.control import ActuationStep, RobotLink, RobotState

    emu = Emulator().start()
    link = RobotLink.open(emu.port, SerialConfig())
    state = RobotState()
    times = [datetime(2026, 6, 1, 12, 0)]
    actuation = ActuationStep(link, state, lambda t: times[0])
    policy = WantsToDrive()
    learner = LearnerStandIn()
    store = StoreStandIn()
    buffer = ReplayBuffer(FEATURE_DIM, "test-backbone", DEFAULT_CLASSES)
    buffer.add(make_cells(np.ones((10, FEATURE_DIM), np.float32), np.zeros(10, np.uint8),
                          source="annotation", season="summer"))
    memory = Memory(buffer, Path(os.devnull))
    service = service_factory(Config() if mqtt is None else Config(mqtt=mqtt))
    service.start()
    dash = service.steps(RobotHandles(
        learner, memory, actuation, policy, state, link, store, lambda t: times[0],
        lambda tick: "summer",
        describe=lambda tick: CellOrigin("summer", "test", time.time())), ask_every_s=0.5)
    steps = [PaintedCamera(), policy, dash.owner, actuation, dash.questions, learner,
             dash.snapshot]
    loop = Loop(steps, rate_hz=30)
    thread = threading.Thread(target=loop.run, name="test-loop", daemon=True)
    thread.start()
    robot = RunningRobot(loop, thread, emu, policy, learner, store, memory, service, times)
    robot.local_time = times
    robot.wait_ticks(3)
    return robot


def stop_robot(robot: RunningRobot) -> None:
    robot.loop.request_stop()
    robot.thread.join(timeout=10)
    robot.service.close()
    robot.emulator.close()
