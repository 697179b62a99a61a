"""`gardenbot simulate`: the whole robot on recorded gardens, on this computer (docs/simulate.md).

With no arguments it plays the bundled sample recordings (models/samples: one held-out garden
in summer, then in autumn) through the robot's own loop — perception with the shipped
adapter, the policy, the MCU emulator in its own process on a real pseudo-terminal through
the pyserial link, experience and annotation labels into the replay buffer, the learner in its
own process — shows the accuracy against the recordings' label maps drop when autumn comes,
presses the (simulated) retrain button, and shows the accuracy recover while summer is kept.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from robot.commands.run import add_web_arguments, start_dashboard
from robot.common.errors import GardenbotError, RecordingError
from robot.runtime.config import Config, load_config
from robot.sim.report import format_summary
from robot.sim.session import DEFAULT_PRESS_AT, SimulationOptions, find_samples, simulate


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gardenbot simulate", description=__doc__.split("\n\n")[1],
        epilog="Details and how to read the summary: docs/simulate.md")
    src = p.add_argument_group("input (default: the sample recordings in models/samples)")
    src.add_argument("--recording", action="append", type=Path, metavar="DIR", default=[],
                     help="a recording folder; repeat for a sequence (e.g. summer, autumn)")
    src.add_argument("--video", type=Path, metavar="FILE",
                     help="any video file: no labels, no telemetry (no accuracy is shown)")
    src.add_argument("--frame-step", type=int, default=1, metavar="N",
                     help="play every N-th frame (default 1)")
    src.add_argument("--max-frames", type=int, metavar="N",
                     help="play at most N frames of each recording")
    src.add_argument("--speed", type=float, default=1.0,
                     help="playback speed: 1 = real time (default), 0 = as fast as it goes")
    robot = p.add_argument_group("robot")
    robot.add_argument("--config", type=Path, help="a gardenbot.toml (default: the defaults)")
    robot.add_argument("--card", type=Path,
                       help="backbone model card (default: the config's, else the shipped "
                            "models/backbone.json)")
    robot.add_argument("--defaults", type=Path, metavar="DIR",
                       help="starting adapter store and replay buffer (default: the config's "
                            "paths.defaults_dir, else the shipped models/default)")
    robot.add_argument("--data-dir", type=Path, metavar="DIR",
                       help="keep the robot's data (buffer, adapters) here; default: a "
                            "temporary folder, removed at the end")
    learn = p.add_argument_group("learning")
    learn.add_argument("--press-after", type=int, metavar="N",
                       help="press the retrain button after N frames of the last recording "
                            f"(default: {100 * DEFAULT_PRESS_AT:.0f}%% of them); -1 = never")
    learn.add_argument("--annotate", type=float, default=0.5, metavar="FRACTION",
                       help="share of labelled frames whose labels go to the buffer as owner "
                            "annotations (default 0.5; 0 = experience labels only)")
    learn.add_argument("--holdout", type=float, default=0.3, metavar="FRACTION",
                       help="last share of each recording kept for evaluation, never learned "
                            "from (default 0.3)")
    learn.add_argument("--wait-learner", type=float, default=180.0, metavar="S",
                       help="after the last frame, wait this long for a running retrain")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, metavar="FILE.mp4", help="write the annotated video")
    out.add_argument("--show", action="store_true", help="show the annotated frames in a window")
    out.add_argument("--json", type=Path, metavar="FILE", help="also write the summary as JSON")
    out.add_argument("--log-json", action="store_true", help="log as JSON lines")
    add_web_arguments(p)
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from robot.common.logs import configure_logging

    root = logging.getLogger()
    _drop_plain_stderr_handlers(root)
    configure_logging("debug" if root.level == logging.DEBUG else "warning", args.log_json)
    if args.recording and args.video:
        raise GardenbotError("give --recording or --video, not both")
    if args.speed < 0 or args.frame_step < 1 or not 0 <= args.holdout < 1 \
            or not 0 <= args.annotate <= 1:
        raise GardenbotError("--speed must be >= 0, --frame-step >= 1, --holdout in [0, 1) "
                             "and --annotate in [0, 1]")
    cfg = load_config(args.config) if args.config else Config()
    if not args.video and not args.recording:
        from models import SAMPLES_DIR

        args.recording = find_samples(SAMPLES_DIR)
        if not args.recording:
            raise RecordingError(f"{SAMPLES_DIR}: no sample recordings there; give "
                                 "--recording DIR (or --video FILE)")
    temp = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="gardenbot-sim-")) if temp else args.data_dir
    options = SimulationOptions(**{f.name: getattr(args, f.name)
                                   for f in fields(SimulationOptions)})
    web = start_dashboard(cfg, args.web_port, None) if args.web else None
    try:
        summary = simulate(options, cfg, data_dir, dashboard=web)
    finally:
        if web is not None:
            web.close()
        if temp:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(format_summary(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 0


def _drop_plain_stderr_handlers(root: logging.Logger) -> None:
    """The dispatcher's basicConfig handler; ours replaces it (pytest's stay)."""
    for h in list(root.handlers):
        if type(h) is logging.StreamHandler and getattr(h, "stream", None) is sys.stderr:
            root.removeHandler(h)


