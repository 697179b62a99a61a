"""`gardenbot run`: the robot's main loop — camera, perception, policy, serial link, learner.

    gardenbot run --config gardenbot.toml [--log-json]

Runs until SIGINT or SIGTERM (then the motors stop, the pump closes, the replay buffer is
saved and a running retrain is cancelled), the end of a file camera, or ``--seconds``.
SIGUSR1 asks for a retrain now (as the button does). See docs/runtime.md, "gardenbot run".
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from robot.common.errors import GardenbotError
from robot.runtime.config import DEFAULT_PATH, Config, load_config
from robot.runtime.loop import Tick

log = logging.getLogger(__name__)

STATUS_LOG_PERIOD_S = 10.0  # with JSON logs the status goes into the log this often


class RunError(GardenbotError, RuntimeError):
    """The robot could not start (no link to the MCU, no camera source)."""


def season_of(day: date) -> str:
    """Meteorological season in the northern hemisphere: the replay buffer's season label for
    cells the robot collects (its strata keep seasons apart)."""
    return ("winter", "spring", "summer", "autumn")[(day.month % 12) // 3]


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=Path(DEFAULT_PATH),
                   help=f"the robot's config (default ./{DEFAULT_PATH})")
    p.add_argument("--camera", help="override camera.source (index, pipeline, video, recording)")
    p.add_argument("--port", help="override serial.port (a device, a pty, a pyserial URL, or "
                                  "\"emulator\")")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--log-json", action="store_true", help="log JSON lines (robot/common/logs.py)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gardenbot run", description=__doc__.split("\n\n")[0])
    add_common_arguments(p)
    p.add_argument("--card", type=Path, help="override perception.model_card")
    p.add_argument("--data-dir", type=Path, help="override paths.data_dir")
    p.add_argument("--frames", type=int, help="stop after this many loop ticks")
    p.add_argument("--annotate", type=float, default=0.0, metavar="FRACTION",
                   help="with a recording as camera: share of its labelled frames whose label "
                        "maps go to the replay buffer (default 0)")
    p.add_argument("--record", type=Path, metavar="DIR",
                   help="also write a recording of the camera and telemetry")
    p.add_argument("--out", type=Path, metavar="FILE.mp4", help="write the annotated video")
    p.add_argument("--show", action="store_true", help="show annotated frames in a window")
    add_web_arguments(p)
    return p


def add_web_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dashboard (docs/dashboard.md)")
    g.add_argument("--web", action="store_true",
                   help="serve the owner's dashboard ([web]) and, if [mqtt] enabled = true, "
                        "MQTT with Home Assistant discovery")
    g.add_argument("--web-port", type=int, metavar="PORT",
                   help="override [web] port (0 = any free port)")


def setup_logging(cfg: Config, json_lines: bool) -> None:
    from robot.common.logs import configure_logging

    root = logging.getLogger()
    for h in list(root.handlers):  # the dispatcher's plain handler; ours replaces it
        if type(h) is logging.StreamHandler and getattr(h, "stream", None) is sys.stderr:
            root.removeHandler(h)
    file = cfg.resolve(cfg.logging.file) if cfg.logging.file else None
    configure_logging(cfg.logging.level, json_lines or cfg.logging.json, file)


@contextlib.contextmanager
def mcu_port(port: str) -> Iterator[str]:
    """The port to open: ``"emulator"`` starts the desktop MCU emulator for the run."""
    if port != "emulator":
        yield port
        return
    from firmware_bridge.emulator import Emulator

    with Emulator() as emu:
        log.info("serial.port = \"emulator\": the MCU emulator runs on %s", emu.port)
        yield emu.port


def open_camera(cfg: Config, spec: str | None) -> tuple[Any, float, bool]:
    """(source, frames per second, live?) for ``camera.source`` (or ``spec``).

    A live camera is rate-limited to ``perception.target_fps`` by dropping frames; a file or
    recording is played in real time at its own rate.
    """
    from robot.seeing.camera import LiveCamera, RateLimited, RecordingSource, VideoFile, open_source

    c = cfg.camera
    source = open_source(spec or c.source, c.width, c.height, c.fps, c.reconnect_min_s,
                         c.reconnect_max_s)
    target = cfg.perception.target_fps
    if isinstance(source, LiveCamera):
        fps = target or c.fps or 30.0
        return (RateLimited(source, target, "drop") if target else source), fps, True
    if isinstance(source, RecordingSource):
        fps = source.meta.fps
    elif isinstance(source, VideoFile):
        fps = source.fps
    else:
        fps = target or 30.0
    return RateLimited(source, fps, "pace"), fps, False


def open_link(port: str, cfg: Config) -> Any:
    from firmware_bridge import BridgeError
    from robot.runtime.control import RobotLink

    try:
        return RobotLink.open(port, cfg.serial)
    except BridgeError as e:
        raise RunError(f"no link to the MCU on {port}: {e} (is the board plugged in? "
                       "`gardenbot doctor` checks)") from e


def install_signals(stop: Callable[[str], None],
                    retrain: Callable[[], None] | None = None) -> Callable[[], None]:
    """SIGINT/SIGTERM end the loop (SIGUSR1 asks for a retrain); returns an undo."""
    def on_stop(signum: int, frame: object) -> None:
        stop(signal.Signals(signum).name)

    def on_usr1(signum: int, frame: object) -> None:
        if retrain is not None:
            retrain()

    old = {s: signal.signal(s, on_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    old[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_usr1)

    def undo() -> None:
        for s, h in old.items():
            signal.signal(s, h)

    return undo


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.annotate <= 1:
        raise RunError(f"--annotate must be in [0, 1], not {args.annotate}")
    cfg = load_config(args.config)
    setup_logging(cfg, args.log_json)
    with mcu_port(args.port or cfg.serial.port) as port:
        return run(args, cfg, port)


def run(args: argparse.Namespace, cfg: Config, port: str) -> int:
    from robot.acting.policy import GroundGrid
    from robot.runtime.control import ActuationStep, PolicyStep, RobotState
    from robot.runtime.learning import (
        AnnotationStep,
        CellOrigin,
        ExperienceStep,
        LearnerStep,
    )
    from robot.runtime.loop import Loop
    from robot.runtime.output import OverlayStep, RecorderStep
    from robot.runtime.settings import defaults_dir, open_parts
    from robot.runtime.telemetry import TelemetryStep
    from robot.runtime.vision import CameraStep, PerceptionStep
    from robot.runtime.watch import driving_watch

    data_dir = args.data_dir or cfg.resolve(cfg.paths.data_dir)
    parts = open_parts(cfg, data_dir, defaults_dir(cfg), args.card)
    backbone, paths, settings = parts.backbone, parts.paths, parts.settings
    perception, memory, classes = parts.perception, parts.memory, parts.classes
    camera = cfg.camera.model()
    zones = cfg.watering.zones
    state = RobotState()
    recording_id = f"robot-{datetime.now():%Y%m%d-%H%M%S}"

    def describe(tick: Tick) -> CellOrigin:
        return CellOrigin(season_of(date.today()), recording_id, time.time())

    def local_time(t: float) -> datetime:
        return datetime.now()

    steps: list[Any] = []
    web = None
    try:
        if args.web:
            web = start_dashboard(cfg, args.web_port, perception.classifier.runner.store)
            steps.append(_Closing(web))
        source, fps, live = open_camera(cfg, args.camera)
        steps.append(CameraStep(source))
        link = open_link(port, cfg)
        learner = LearnerStep(memory, paths, settings, backbone_sha256=backbone.backbone_id,
                              feature_dim=backbone.feature_dim, classes=classes)
        policy = PolicyStep(GroundGrid.from_camera(camera, backbone.grid_hw), camera, cfg.policy,
                            cfg.robot, cfg.watering, zones, state, local_time, probe=cfg.probe)
        experience = ExperienceStep(memory, camera, backbone.grid_hw, classes, cfg.robot,
                                    cfg.experience, cfg.watering.moisture_threshold, describe,
                                    keyframe_period_s=0.25)
        experience.source_of = policy.prober.source_at  # probes' labels: source "probe"
        watch = driving_watch(paths, settings, perception.classifier.runner.store, learner,
                              policy)
        places = _places_step(cfg, data_dir, memory, camera, backbone, classes, describe)
        actuation = ActuationStep(link, state, local_time)
        dash = None
        if web is not None:
            from robot.dashboard.steps import RobotHandles

            dash = web.steps(RobotHandles(
                learner, memory, actuation, policy, state, link,
                perception.classifier.runner.store, local_time,
                lambda tick: season_of(date.today()), describe=describe,
                min_confidence=cfg.policy.min_confidence))
        steps += [
            PerceptionStep(perception),
            policy,
            *([dash.owner] if dash else []),
            actuation,
            TelemetryStep(link, state, [z.id for z in zones]),
            experience,
            *places,
            watch,
            AnnotationStep(memory, args.annotate, describe),
            *([dash.questions] if dash else []),
            learner,
        ]
        if args.record:
            steps.append(RecorderStep(args.record, _camera_at(cfg), fps,
                                      season_of(date.today()), _record_extra(cfg)))
        if args.out or args.show:
            steps.append(OverlayStep(args.out, args.show, fps, lambda t: _caption(t),
                                     cfg.policy.min_confidence))
        steps.append(_status_step(cfg, args.log_json, link, memory, learner, source.name))
        if dash is not None:
            steps.append(dash.snapshot)
    except BaseException:
        for step in steps:
            with contextlib.suppress(Exception):
                step.shutdown()
        raise
    loop = Loop(steps, rate_hz=fps if live else 0.0, max_ticks=args.frames,
                max_duration_s=args.seconds)
    undo = install_signals(loop.request_stop, lambda: learner.request("signal"))
    log.info("gardenbot run: camera %s, MCU on %s, adapter %s, %d cells in the replay buffer",
             source.name, port, perception.classifier.version, len(memory.buffer))
    try:
        result = loop.run()
    finally:
        undo()
    c = link.counters
    log.info("gardenbot run ended (%s) after %d ticks in %.1f s (%.1f/s): %d drive commands "
             "sent, %d acked, %d waterings; replay buffer %d cells", result.reason,
             result.ticks, result.duration_s, result.rate_hz, c.drives_sent, c.drives_acked,
             c.waters_acked, len(memory.buffer),
             extra={"ticks": result.ticks, "reason": result.reason,
                    "drives_sent": c.drives_sent, "drives_acked": c.drives_acked,
                    "failures": dict(c.failures), "step_ms": result.step_ms})
    return 0


def _places_step(cfg: Config, data_dir: Path, memory: Any, camera: Any, backbone: Any,
                 classes: Any, describe: Any) -> list[Any]:
    """The memory of places, where switched on. A run is a day from the dock: the odometry
    starts at the dock's pose when `gardenbot run` starts, and the day's votes join the memory
    when it stops."""
    if not cfg.experience.places:
        return []
    from robot.learning.places import PlaceMapError
    from robot.runtime.places import PlaceStep

    path = data_dir / "places" / f"{cfg.experience.garden}.npz"

    def step() -> PlaceStep:
        return PlaceStep(memory, camera, backbone.grid_hw, classes, describe,
                         garden=cfg.experience.garden, backbone_sha256=backbone.backbone_id,
                         path=path)

    try:
        return [step()]
    except PlaceMapError as e:
        # A memory the robot cannot use (damaged, another backbone) must not keep it from
        # working: set it aside, where the owner can look at it, and start a new one.
        aside = path.with_name(f"{path.name}.unusable-{datetime.now():%Y%m%d-%H%M%S}")
        path.rename(aside)
        log.warning("the memory of places %s cannot be used (%s); moved to %s, starting a new "
                    "one", path, e, aside.name)
        return [step()]


def start_dashboard(cfg: Config, port: int | None, store: Any) -> Any:
    """Start the web server (and MQTT) and print the URL to open; docs/dashboard.md."""
    from robot.dashboard.service import DashboardService

    if cfg.mqtt.password and cfg.source is not None and cfg.source.stat().st_mode & 0o077:
        log.warning("%s holds the MQTT password and other users can read it: chmod 600 %s",
                    cfg.source, cfg.source)
    service = DashboardService.from_config(cfg, store=store, port=port)
    url = service.start()
    print(f"dashboard: {url}", file=sys.stderr, flush=True)
    if service.mqtt is not None:
        print(f"MQTT: {cfg.mqtt.host}:{cfg.mqtt.port} as {service.mqtt.base}", file=sys.stderr,
              flush=True)
    return service


class _Closing:
    """A do-nothing step whose shutdown closes the dashboard even if the loop never started
    (the snapshot step closes it too; closing twice is safe)."""

    name = "dashboard"

    def __init__(self, service: Any) -> None:
        self.service = service

    def run(self, tick: Tick) -> None:
        pass

    def shutdown(self) -> None:
        self.service.close()


def _camera_at(cfg: Config) -> Callable[[int, int], Any]:
    from dataclasses import replace

    return lambda w, h: replace(cfg.camera, width=w, height=h).model()


def _record_extra(cfg: Config) -> dict[str, Any]:
    return {"recorded_by": "gardenbot", "camera_source": cfg.camera.source,
            "config": str(cfg.source) if cfg.source else None,
            "zones": [{"id": z.id, "x_m": z.x_m, "y_m": z.y_m, "radius_m": z.radius_m}
                      for z in cfg.watering.zones]}


def _caption(tick: Tick) -> str:
    parts = [tick.cells.adapter_version if tick.cells else "",
             tick.drive.reason if tick.drive else ""]
    return "  ".join(p for p in parts if p)


def _status_step(cfg: Config, json_logs: bool, link: Any, memory: Any, learner: Any,
                 camera: str) -> Any:
    from robot.runtime.output import StatusLine, rate_text

    def describe(tick: Tick, fps: float) -> str:
        c = link.counters
        version = tick.cells.adapter_version if tick.cells is not None else "-"
        return (f"{rate_text(tick, fps, camera)} | cmds {c.drives_sent}/{c.drives_acked} acked "
                f"| water {c.waters_acked} | buffer {len(memory.buffer)} "
                f"(+{memory.new_cells} new) | adapter {version} | learner {learner.state}")

    if json_logs or cfg.logging.json:
        return StatusLine(describe, stream=_LogStream(), period_s=STATUS_LOG_PERIOD_S,
                          tty=False)
    return StatusLine(describe)


class _LogStream:
    """A status line's stream that writes log records (for JSON-lines logs)."""

    def write(self, text: str) -> None:
        if text.strip():
            log.info("status: %s", text.strip())

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
