"""The control loop: steps in order, bounded runs, shutdown that always happens; the policy
through the real link to the emulator; a camera that disappears mid-run."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.board import wait_until
from firmware_bridge.emulator import Emulator
from robot.acting.config import PolicyConfig, Zone
from robot.acting.policy import STOP_NO_FRAME, DriveCommand, GroundGrid, WaterCommand
from robot.common.classes import DEFAULT_CLASSES
from robot.runtime.config import Config, SerialConfig
from robot.runtime.control import (
    ActuationStep,
    PolicyStep,
    RobotLink,
    RobotState,
    fit_wheel_limits,
)
from robot.runtime.loop import Loop, Tick
from robot.runtime.telemetry import TelemetryStep, wheel_slip
from robot.seeing.perception import CellMap


class Recorder:
    """A step that notes what it saw, and can fail on purpose."""

    def __init__(self, name: str, log: list[str], fail_at: int | None = None,
                 stop_at: int | None = None, safety_first: bool = False,
                 fail_shutdown: bool = False) -> None:
        self.name, self.log = name, log
        self.fail_at, self.stop_at = fail_at, stop_at
        self.safety_first = safety_first
        self.fail_shutdown = fail_shutdown
        self.shutdowns = 0

    def run(self, tick: Tick) -> None:
        self.log.append(f"{self.name}{tick.index}")
        if tick.index == self.fail_at:
            raise RuntimeError("step broke")
        if tick.index == self.stop_at:
            tick.stop = "done"

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.log.append(f"shutdown {self.name}")
        if self.fail_shutdown:
            raise OSError("could not close")


def test_steps_run_in_order_and_a_tick_limit_ends_the_loop():
    log: list[str] = []
    result = Loop([Recorder("a", log), Recorder("b", log)], max_ticks=3).run()
    assert log[:6] == ["a0", "b0", "a1", "b1", "a2", "b2"]
    assert result.ticks == 3 and result.reason == "max_ticks"
    assert set(result.step_ms) == {"a", "b"}


def test_a_step_can_end_the_loop_after_its_tick():
    log: list[str] = []
    result = Loop([Recorder("a", log, stop_at=1), Recorder("b", log)]).run()
    assert result.reason == "done" and log[:4] == ["a0", "b0", "a1", "b1"]


def test_shutdown_always_runs_safety_first_then_in_reverse():
    log: list[str] = []
    steps = [Recorder("camera", log), Recorder("link", log, safety_first=True),
             Recorder("learner", log, fail_at=1, fail_shutdown=True), Recorder("status", log)]
    with pytest.raises(RuntimeError, match="step broke"):
        Loop(steps).run()
    assert log[-4:] == ["shutdown link", "shutdown status", "shutdown learner",
                        "shutdown camera"], "a failing shutdown does not stop the others"
    assert all(s.shutdowns == 1 for s in steps)


def test_fixed_rate_and_duration_limit_with_a_fake_clock():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    class Slow:
        name = "slow"

        def run(self, tick: Tick) -> None:
            now[0] += 0.01  # 10 ms of work per tick

        def shutdown(self) -> None:
            pass

    result = Loop([Slow()], rate_hz=20, max_duration_s=1.0, clock=lambda: now[0],
                  sleep=sleep).run()
    assert result.reason == "max_duration" and result.ticks == 20
    assert slept and all(abs(s - 0.04) < 1e-9 for s in slept)


def test_request_stop_ends_the_loop_from_another_thread():
    import threading

    log: list[str] = []
    loop = Loop([Recorder("a", log)], rate_hz=100)
    threading.Timer(0.2, loop.request_stop, args=("SIGTERM",)).start()
    result = loop.run()
    assert result.reason == "SIGTERM" and 5 < result.ticks < 100


# --- the policy through the real link to the emulator --------------------------------------

def cells(classes: np.ndarray, t: float = 0.0, confidence: float = 0.95) -> CellMap:
    return CellMap(classes.astype(np.uint8), np.full(classes.shape, confidence, np.float32),
                   np.zeros(classes.shape, np.float32), DEFAULT_CLASSES, t, "v1")


@pytest.fixture
def mcu():
    with Emulator() as emu:
        link = RobotLink.open(emu.port, SerialConfig())
        try:
            yield emu, link
        finally:
            link.close()


def test_policy_commands_drive_the_emulated_motors(mcu):
    emu, link = mcu
    cfg = Config()
    camera = cfg.camera.model()
    grid = (15, 20)
    state = RobotState(pose=(0.0, 0.0, 0.0), moisture={1: 0.1})
    noon = lambda t: __import__("datetime").datetime(2025, 6, 1, 12, 0)  # noqa: E731
    policy = PolicyStep(GroundGrid.from_camera(camera, grid), camera, cfg.policy, cfg.robot,
                        cfg.watering, [Zone(1, 1.0, 0.0, 0.3)], state, noon)
    act = ActuationStep(link, state, noon)
    lawn = np.zeros(grid, np.uint8)
    tick = Tick(0, time.monotonic(), cells=cells(lawn))
    policy.run(tick)
    act.run(tick)
    assert tick.drive.reason == "cruise" and tick.drive.v_mps == pytest.approx(0.4)
    assert wait_until(lambda: emu.state().motor_left_mmps == 400, 1.0)
    assert tick.water == WaterCommand(1, 5000, tick.water.reason), "dry zone 1 ahead is watered"
    assert wait_until(lambda: emu.state().pump_zone == 1, 1.0)
    assert act.flush()  # the sender thread records the watering once its Ack is back
    assert 1 in state.last_watered

    wall = lawn.copy()
    wall[:, :] = 4  # obstacle everywhere
    tick = Tick(1, time.monotonic(), cells=cells(wall, t=2.0))
    policy.run(tick)
    act.run(tick)
    assert tick.drive.is_stop and tick.water is None, "zone watered already; blocked → stop"
    assert wait_until(lambda: not emu.state().motors_on, 1.0)

    missing = Tick(2, time.monotonic())  # no frame this tick
    policy.run(missing)
    assert act.flush()
    assert missing.drive.reason == STOP_NO_FRAME
    received = [r.type for r in emu.received()]
    assert received.count("Drive") == 2 and received.count("Water") == 1
    assert link.counters.drives_acked == 2 and link.counters.waters_acked == 1


def test_a_simulation_renews_a_drive_its_slow_tick_would_let_expire_but_never_a_stop(mcu):
    emu, link = mcu
    act = ActuationStep(link, RobotState(), lambda t: None)
    act.run(Tick(0, time.monotonic(), drive=DriveCommand(0.2, 0.0, 200, "cruise")))
    assert act.flush_renewed() and act.renewed == 0, "fresh: nothing to renew"
    time.sleep(0.25)  # the host thought longer than the command lives
    assert not emu.state().motors_on, "on the wall clock the MCU let it expire"
    assert act.flush_renewed() and act.renewed == 1
    assert emu.state().motor_left_mmps == 200, "renewed: the wheels turn again"
    act.stop_now()
    assert act.flush()
    time.sleep(0.15)
    assert act.flush_renewed() and act.renewed == 1, "a Stop is never followed by a renewal"
    assert not emu.state().motors_on
    act.shutdown()


def test_a_command_beyond_the_wheel_cap_is_scaled_not_refused(mcu):
    emu, link = mcu
    fast = DriveCommand(0.5, 1.0, 300, "cruise")  # 0.5 + 1.0·0.15 = 0.65 m/s on one wheel
    fitted = fit_wheel_limits(fast)
    assert fitted.omega_radps == 1.0 and fitted.v_mps < 0.36 and "wheel_limit" in fitted.reason
    assert fit_wheel_limits(DriveCommand(0.2, 0.5, 300, "cruise")).reason == "cruise"
    assert link.drive(fast)
    assert wait_until(lambda: emu.state().motor_right_mmps > 0, 1.0)
    s = emu.state()
    assert max(abs(s.motor_left_mmps), abs(s.motor_right_mmps)) <= 500
    assert link.counters.wheel_limited == 1 and not link.counters.failures


def test_a_rebooted_mcu_is_released_and_driven_again(mcu):
    emu, link = mcu
    assert link.drive(DriveCommand(0.1, 0.0, 300, "cruise"))
    emu.reset()  # boots latched, as after a brown-out
    assert wait_until(lambda: link.link.connected and link.latest is not None
                      and link.latest.estop_latched, 3.0)
    assert wait_until(lambda: link.drive(DriveCommand(0.1, 0.0, 300, "cruise")), 3.0)
    assert not emu.state().estop_latched and link.counters.releases >= 2


def test_telemetry_becomes_records_with_an_odometry_pose(mcu):
    from robot.seeing.camera import CameraFrame

    emu, link = mcu
    state = RobotState()
    step = TelemetryStep(link, state, zone_ids=[0, 1])
    image = np.zeros((2, 2, 3), np.uint8)
    emu.feed(pose=[0.0, 0.0, 0.0])
    time.sleep(0.15)
    step.run(Tick(0, time.monotonic(), frame=CameraFrame(0, 10.0, image)))  # odometry starts
    emu.feed(bumper_left=True, moisture_permille=[250, 600, None, None])
    emu.feed_pose(0.5, 0.0, 0.0)
    time.sleep(0.15)
    tick = Tick(1, time.monotonic(), frame=CameraFrame(1, 10.3, image))
    step.run(tick)
    assert tick.records, "telemetry arrived"
    last = tick.records[-1]
    assert last["bumper"] and last["x_m"] == pytest.approx(0.5, abs=0.01)
    assert last["soil_moisture"] == [{"zone": 0, "value": 0.25}, {"zone": 1, "value": 0.6}]
    assert all(10.0 < r["t"] <= 10.5 for r in tick.records), "stamped on the loop's clock"
    assert state.pose[0] == pytest.approx(0.5, abs=0.01) and state.moisture[0] == 0.25


def test_slip_is_the_wheel_travel_the_true_motion_does_not_explain():
    assert wheel_slip((0, 0, 0), (0.1, 0, 0), 0.1, 0.1) == pytest.approx(0.0)
    assert wheel_slip((0, 0, 0), (0.05, 0, 0), 0.1, 0.1) == pytest.approx(0.5)
    assert wheel_slip((0, 0, 0), (0.0, 0, 0), 0.1, 0.1) == pytest.approx(1.0)
    turn = 0.5 * 0.15  # turning on the spot by 0.5 rad: each wheel travels 7.5 cm
    assert wheel_slip((0, 0, 0), (0, 0, 0.5), -turn, turn) == pytest.approx(0.0, abs=1e-9)
    assert wheel_slip((0, 0, 0), (0, 0, 0), 0.001, 0.001) is None


# --- a camera that disappears mid-run -----------------------------------------------------

class UsbCamera:
    """A fake USB camera (real time) that can be unplugged and plugged back."""

    def __init__(self) -> None:
        self.plugged = True
        self.frames = 0

    def factory(self, spec: int | str) -> UsbCamera.Capture:
        return UsbCamera.Capture(self)

    class Capture:
        def __init__(self, cam: UsbCamera) -> None:
            self.cam, self.opened = cam, cam.plugged

        def isOpened(self) -> bool:
            return self.opened

        def set(self, prop: int, value: float) -> bool:
            return True

        def read(self):
            if not (self.opened and self.cam.plugged):
                return False, None
            self.cam.frames += 1
            from tests.tiny_robot import GARDEN_LAYOUT, paint_scene

            return True, paint_scene(GARDEN_LAYOUT, seed=self.cam.frames)

        def release(self) -> None:
            self.opened = False


def test_a_camera_that_disappears_mid_run_stops_the_robot_then_resumes(
        mcu, tiny_backbone_card: Path, tiny_defaults: Path, caplog):
    from robot.runtime.vision import CameraStep, PerceptionStep
    from robot.seeing.backbone import Backbone
    from robot.seeing.camera import LiveCamera
    from robot.seeing.perception import Perception, StoreClassifier

    emu, link = mcu
    cam = UsbCamera()
    source = LiveCamera(0, reconnect_min_s=0.05, reconnect_max_s=0.1, max_failures=3,
                        capture_factory=cam.factory)
    bb = Backbone(tiny_backbone_card, variant="fp32", threads=1)
    perception = Perception(bb, StoreClassifier.open(tiny_defaults / "adapters", bb))
    cfg = Config()
    cfg_policy = PolicyConfig(min_confidence=0.0)
    camera = cfg.camera.model()
    state = RobotState()
    policy = PolicyStep(GroundGrid.from_camera(camera, bb.grid_hw), camera, cfg_policy,
                        cfg.robot, cfg.watering, [], state, lambda t: None)
    reasons: list[str] = []

    class Script:
        name = "script"

        def run(self, tick: Tick) -> None:
            reasons.append(tick.drive.reason if tick.drive else "")
            if tick.index == 10:
                cam.plugged = False
            if tick.index == 25:
                cam.plugged = True

        def shutdown(self) -> None:
            pass

    steps = [CameraStep(source), PerceptionStep(perception), policy,
             ActuationStep(link, state, lambda t: None), Script()]
    result = Loop(steps, rate_hz=50, max_ticks=45).run()
    assert result.ticks == 45, "the loop never crashed"
    assert STOP_NO_FRAME in reasons[11:25], "while the camera was gone the robot was stopped"
    assert all(r != STOP_NO_FRAME for r in reasons[:10])
    assert reasons[-1] != STOP_NO_FRAME, "frames came back"
    stops = [r for r in emu.received() if r.type == "Drive" and r.fields["v_mmps"] == 0]
    assert stops, "the stop commands reached the MCU"
    assert source.stats.outages == 1 and source.stats.reconnects == 1
    assert sum("no frames" in r.message for r in caplog.records) == 1, "one line per outage"


def test_status_line_rewrites_in_place_on_a_terminal_and_prints_lines_otherwise(monkeypatch):
    import io

    from robot.runtime.output import StatusLine

    term, log = io.StringIO(), io.StringIO()
    on_tty = StatusLine(lambda tick, fps: f"tick {tick.index}", stream=term, period_s=0.0,
                        tty=True)
    to_log = StatusLine(lambda tick, fps: f"tick {tick.index}", stream=log, period_s=0.0,
                        tty=False)
    for i in range(3):
        on_tty.run(Tick(i, 0.0))
        to_log.run(Tick(i, 0.0))
    on_tty.shutdown()
    assert term.getvalue() == "\rtick 0\rtick 1\rtick 2\n"
    assert log.getvalue() == "tick 0\ntick 1\ntick 2\n"
    slow = StatusLine(lambda tick, fps: "x", stream=io.StringIO(), tty=False)
    for i in range(5):
        slow.run(Tick(i, 0.0))
    assert slow.lines == 1, "one line per second when not on a terminal"


def test_show_without_a_display_warns_once_and_runs_without_a_window(monkeypatch, caplog):
    from robot.runtime.output import OverlayStep

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    step = OverlayStep(None, show=True, fps=10, caption=lambda tick: "")
    assert not step.show
    assert sum("no display" in r.message for r in caplog.records) == 1
    step.run(Tick(0, 0.0, cells=cells(np.zeros((2, 2), np.uint8))))
    step.shutdown()
