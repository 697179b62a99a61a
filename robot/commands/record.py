"""`gardenbot record`: write what the camera sees and the robot's telemetry as a recording.

    gardenbot record --config gardenbot.toml --out recordings/2025-06-01 [--seconds 60]

The recording (docs/recording.md) replays on a desktop with `gardenbot simulate --recording
DIR`. Recording only listens: the link keeps its heartbeat but sends no drive command (drive
the robot by hand, or use `gardenbot run --record DIR` to record while it drives itself).
Stops on SIGINT/SIGTERM, at the end of a file camera, or after ``--seconds``.
"""

from __future__ import annotations

import argparse
import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

from robot.runtime.config import load_config
from robot.runtime.loop import Tick

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    from robot.commands.run import add_common_arguments

    p = argparse.ArgumentParser(prog="gardenbot record", description=__doc__.split("\n\n")[0])
    add_common_arguments(p)
    p.add_argument("--out", type=Path,
                   help="recording folder to create (default: paths.recordings_dir/<date-time>)")
    p.add_argument("--season", help="season written in meta.json (default: from the date)")
    p.add_argument("--overwrite", action="store_true", help="replace a recording at --out")
    return p


def main(argv: list[str]) -> int:
    from robot.commands.run import mcu_port, setup_logging

    args = build_parser().parse_args(argv)
    cfg = load_config(args.config)
    setup_logging(cfg, args.log_json)
    out = args.out or cfg.resolve(cfg.paths.recordings_dir) / f"{datetime.now():%Y%m%d-%H%M%S}"
    with mcu_port(args.port or cfg.serial.port) as port:
        return record(args, cfg, port, out)


def record(args: argparse.Namespace, cfg: Any, port: str, out: Path) -> int:
    import contextlib

    from robot.commands.run import (
        _camera_at,
        _record_extra,
        install_signals,
        open_camera,
        open_link,
        season_of,
    )
    from robot.runtime.control import RobotState
    from robot.runtime.loop import Loop
    from robot.runtime.output import RecorderStep, StatusLine, rate_text
    from robot.runtime.telemetry import TelemetryStep
    from robot.runtime.vision import CameraStep

    steps: list[Any] = []
    try:
        recorder = RecorderStep(out, _camera_at(cfg), 0.0, args.season or season_of(date.today()),
                                _record_extra(cfg), overwrite=args.overwrite)
        source, fps, live = open_camera(cfg, args.camera)
        recorder.fps = fps
        steps.append(CameraStep(source))
        link = open_link(port, cfg)
        telemetry = TelemetryStep(link, RobotState(), [z.id for z in cfg.watering.zones])
        steps += [_Holder(link), telemetry, recorder]

        def describe(tick: Tick, rate: float) -> str:
            return (f"{rate_text(tick, rate, source.name)} | {recorder.frames} frames, "
                    f"{telemetry.records} telemetry records → {out}")

        steps.append(StatusLine(describe))
    except BaseException:
        for step in steps:
            with contextlib.suppress(Exception):
                step.shutdown()
        raise
    loop = Loop(steps, rate_hz=fps if live else 0.0, max_duration_s=args.seconds)
    undo = install_signals(loop.request_stop)
    try:
        result = loop.run()
    finally:
        undo()
    print(f"recorded {recorder.frames} frames and {telemetry.records} telemetry records in "
          f"{result.duration_s:.1f} s to {out} ({result.reason})")
    return 0


class _Holder:
    """Keeps the link for the recording's length and closes it at the end (safety first)."""

    name = "link"
    safety_first = True

    def __init__(self, link: Any) -> None:
        self.link = link

    def run(self, tick: Tick) -> None:
        pass

    def shutdown(self) -> None:
        self.link.close()
