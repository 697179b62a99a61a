"""The robot's control loop end to end, as `gardenbot bench perf` measures it (section "loop").

Runs in its own process (so that its peak RSS is the perception process's alone): frames from
memory (decoded beforehand: the camera's cost is not the robot's CPU), the int8 backbone and
the current adapter of a data folder seeded with the shipped defaults, the policy, the serial
link to an MCU emulator in another process (each drive command waits for its Ack), telemetry,
experience labels and the learner step — everything `gardenbot run` has but the status line.
The loop runs unthrottled; its tick rate is the frame-in → command-out rate.

Two phases: the learner idle, then retrains running back to back in the background learner
process (os.nice +10, one torch thread), counting only ticks while one runs.

With ``--dashboard`` the dashboard's steps join the loop (robot/dashboard/), its web server
runs, a page client (tools/bench/page_client.py, another process) keeps the live view open and
polls the state as an open tab does, and with ``--mqtt-port`` the MQTT client is connected to a
broker there and publishes the state every second.

    python -m tools.bench.loop --port /dev/pts/N --data-dir DIR [--card C] [--frames-from REC]
        [--dashboard [--mqtt-port P]]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

FRAME_DT_S = 1 / 30  # the frames' own clock: a 30 frames/s camera


class MemoryCamera:
    """Decoded frames played in a circle, their times on a 30 frames/s clock."""

    name = "memory camera"

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = images
        self.n = 0

    @property
    def finished(self) -> bool:
        return False

    def read_frame(self) -> Any:
        from robot.seeing.camera import CameraFrame

        image = self.images[self.n % len(self.images)]
        self.n += 1
        return CameraFrame(self.n - 1, self.n * FRAME_DT_S, image)

    def close(self) -> None:
        pass


def load_frames(recording: Path | None, hw: tuple[int, int], count: int = 60) -> list[np.ndarray]:
    if recording is not None:
        from robot.seeing.recording import Recording

        return [f.image for f in Recording(recording).frames(stop=count)]
    rng = np.random.default_rng(0)  # a smooth random scene: the backbone's cost is the same
    base = rng.integers(40, 200, (hw[0] // 8, hw[1] // 8, 3)).astype(np.uint8)
    import cv2

    return [cv2.resize(np.roll(base, i, axis=1), (hw[1], hw[0])) for i in range(count)]


class TickClock:
    """A loop step at the end of the list: the wall time of every tick, by learner state."""

    name = "tick clock"

    def __init__(self, learner: Any) -> None:
        self.learner = learner
        self.last: float | None = None
        self.ms: dict[str, list[float]] = {"idle": [], "retraining": []}

    def run(self, tick: Any) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.ms["retraining" if self.learner.running else "idle"].append(
                1e3 * (now - self.last))
        self.last = now

    def shutdown(self) -> None:
        pass


class Phases:
    """A loop step: idle for ``idle_s``, then retrains back to back for ``busy_s`` of
    retraining (as the tick clock counts it)."""

    name = "phases"

    def __init__(self, learner: Any, clock: TickClock, idle_s: float, busy_s: float) -> None:
        self.learner, self.clock = learner, clock
        self.idle_s, self.busy_s = idle_s, busy_s
        self.start = time.monotonic()

    def run(self, tick: Any) -> None:
        if time.monotonic() - self.start < self.idle_s:
            return
        if not self.learner.running:
            if sum(self.clock.ms["retraining"]) / 1e3 >= self.busy_s:
                tick.stop = "done"
            else:
                self.learner.request("bench")

    def shutdown(self) -> None:
        pass


def run(port: str, data_dir: Path, card: Path | None, frames_from: Path | None,
        idle_s: float, busy_s: float, variant: str, threads: int, dashboard: bool = False,
        mqtt_port: int | None = None) -> dict[str, Any]:
    from dataclasses import replace

    from robot.acting.policy import GroundGrid
    from robot.runtime.config import Config
    from robot.runtime.control import ActuationStep, PolicyStep, RobotLink, RobotState
    from robot.runtime.learning import CellOrigin, ExperienceStep, LearnerStep
    from robot.runtime.loop import Loop
    from robot.runtime.settings import open_parts
    from robot.runtime.telemetry import TelemetryStep
    from robot.runtime.vision import CameraStep, PerceptionStep
    from robot.runtime.watch import driving_watch

    cfg = Config()
    cfg = replace(cfg, perception=replace(cfg.perception, variant=variant, threads=threads))
    parts = open_parts(cfg, data_dir, data_dir, card)
    backbone, paths, settings = parts.backbone, parts.paths, parts.settings
    perception, memory, classes = parts.perception, parts.memory, parts.classes
    camera = cfg.camera.model()
    state = RobotState()
    learner = LearnerStep(memory, paths, settings, backbone_sha256=backbone.backbone_id,
                          feature_dim=backbone.feature_dim, classes=classes, use_button=False,
                          save_period_s=1e9)
    clock = TickClock(learner)
    images = load_frames(frames_from, backbone.card.input_hw)

    def origin(tick: Any) -> CellOrigin:
        return CellOrigin("bench", "bench", time.time())

    # Memory and the adapter store hold no open files (read at open, locked per call); the
    # link holds the serial port. Loop.run closes it through ActuationStep.shutdown; the
    # finally also covers a failure before the loop starts.
    link = RobotLink.open(port, cfg.serial)
    page: Any = None
    service: Any = None
    try:
        actuation = ActuationStep(link, state, lambda t: None)
        policy = PolicyStep(GroundGrid.from_camera(camera, backbone.grid_hw), camera, cfg.policy,
                            cfg.robot, cfg.watering, [], state, lambda t: None)
        dash: Any = None
        if dashboard:
            service, dash, page = _dashboard(cfg, mqtt_port, learner, memory, actuation, policy,
                                             state, link, perception, origin, idle_s + busy_s)
        steps = [CameraStep(MemoryCamera(images)), PerceptionStep(perception), policy,
                 *([dash.owner] if dash else []), actuation, TelemetryStep(link, state),
                 ExperienceStep(memory, camera, backbone.grid_hw, classes, cfg.robot,
                                cfg.experience, cfg.watering.moisture_threshold, origin,
                                keyframe_period_s=0.25),
                 driving_watch(paths, settings, perception.classifier.runner.store, learner,
                               policy),
                 *([dash.questions] if dash else []),
                 learner, Phases(learner, clock, idle_s, busy_s), clock,
                 *([dash.snapshot] if dash else [])]
        result = Loop(steps, max_duration_s=idle_s + busy_s + 120).run()
    finally:
        link.close()  # safe twice
        if service is not None:
            service.close()
    rt = link.link.stats.round_trip
    out: dict[str, Any] = {"reason": result.reason, "variant": variant, "threads": threads,
                           "input": f"{backbone.card.input_hw[1]}x{backbone.card.input_hw[0]}",
                           "step_ms": {k: round(v, 3) for k, v in result.step_ms.items()},
                           "drives_acked": link.counters.drives_acked,
                           "drives_superseded": actuation.superseded,
                           "round_trip_ms": {"median": round(rt.median_ms, 2),
                                             "p99": round(rt.p99_ms, 2), "count": rt.count},
                           "drive_failures": dict(link.counters.failures),
                           "retrains": [r.status.state if r.status else "?"
                                        for r in learner.retrains]}
    if dashboard:
        out["dashboard"] = {"page": _page_result(page),
                            "mqtt_connected": bool(service.mqtt and service.mqtt.connects),
                            "mqtt_published": service.mqtt.published if service.mqtt else 0}
    for phase, ms in clock.ms.items():
        if len(ms) > 10:
            out[phase] = {"ticks": len(ms), "fps": round(1e3 / statistics.mean(ms), 1),
                          "median_ms": round(statistics.median(ms), 2),
                          "p95_ms": round(float(np.quantile(ms, 0.95)), 2)}
    return out


def _dashboard(cfg: Any, mqtt_port: int | None, learner: Any, memory: Any, actuation: Any,
               policy: Any, state: Any, link: Any, perception: Any, origin: Any,
               seconds: float) -> tuple[Any, Any, Any]:
    """The dashboard service with its steps, and the page client process reading it."""
    import subprocess
    import sys
    from dataclasses import replace
    from datetime import datetime

    from robot.dashboard.service import DashboardService
    from robot.dashboard.steps import RobotHandles

    mqtt = replace(cfg.mqtt, enabled=mqtt_port is not None, host="127.0.0.1",
                   port=mqtt_port or 1883, robot_id="bench", publish_period_s=1.0)
    service = DashboardService(cfg.web, mqtt, "bench-" + "x" * 26, host="127.0.0.1", port=0)
    service.start()
    dash = service.steps(RobotHandles(learner, memory, actuation, policy, state, link,
                                      perception.classifier.runner.store,
                                      lambda t: datetime.now(), lambda tick: "bench",
                                      describe=origin))
    page = subprocess.Popen(
        [sys.executable, "-m", "tools.bench.page_client", "--port", str(service.server.port),
         "--token", service.token, "--seconds", str(seconds)],
        stdout=subprocess.PIPE, text=True)
    if mqtt_port is not None and not service.mqtt.connected.wait(10):
        raise RuntimeError(f"no MQTT broker answered on 127.0.0.1:{mqtt_port}")
    return service, dash, page


def _page_result(page: Any) -> dict[str, Any]:
    try:
        out, _ = page.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])
    except Exception as e:  # the row is still worth having; say what went wrong
        page.kill()
        return {"error": f"{type(e).__name__}: {e}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--card", type=Path)
    p.add_argument("--frames-from", type=Path)
    p.add_argument("--idle-s", type=float, default=10.0)
    p.add_argument("--busy-s", type=float, default=15.0)
    p.add_argument("--variant", default="int8")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dashboard", action="store_true")
    p.add_argument("--mqtt-port", type=int)
    a = p.parse_args(argv)
    print(json.dumps(run(a.port, a.data_dir, a.card, a.frames_from, a.idle_s, a.busy_s,
                         a.variant, a.threads, a.dashboard, a.mqtt_port)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
