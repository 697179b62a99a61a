"""`gardenbot simulate`: the whole robot in a simulated garden, on this computer (docs/simulate.md).

With no arguments the robot drives itself through a synthetic garden it was never trained on
(g07), first in summer, then in autumn — closed loop: its own drive commands, through the
pyserial link and the MCU emulator on a real pseudo-terminal, move it; the garden renders what
its camera sees at the new pose. Perception with the shipped adapter, the policy, experience
and annotation labels into the replay buffer, the learner in its own process. It shows how
often the robot stopped where the way was open when autumn came, presses the (simulated)
retrain button, and shows it drive again — against the same policy with perfect eyes.
--recording replays recordings of a real (or synthetic) garden instead; --autonomous drives
day after day through a compressed year with nobody there (tools/autonomy).

This command lives in tools/ because the garden renderer does (tools/garden/live.py); the
robot's loop and the closed-loop world are in robot/sim.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
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
from tools.autonomy.days import AutonomyOptions

DEFAULT_GARDEN = "g07"
DEFAULT_SEASONS = "summer,autumn"
DEFAULT_SEASON_S = 45.0
# What the closed loop's retrain learns from by default (issue 12): what the robot gathered
# (experience, probes, the memory of places) plus at most 10 owner answers, no dense maps;
# `--annotate F` brings the maps back (docs/simulate.md, "The owner's answers").
DEFAULT_OWNER_ANSWERS = 10
DEFAULT_ANNOTATE_CLOSED = 0.0
DEFAULT_ANNOTATE_REPLAY = 0.5
AUTO_DEFAULTS = AutonomyOptions()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gardenbot simulate", description=__doc__.split("\n\n")[1],
        epilog="Details and how to read the summary: docs/simulate.md")
    world = p.add_argument_group("closed loop (the default): a synthetic garden the robot drives")
    world.add_argument("--garden", default=None, metavar="gNN",
                       help=f"synthetic garden (default {DEFAULT_GARDEN}; g06 and g07 were never "
                            "trained on)")
    world.add_argument("--season", default=None, metavar="S[,S...]",
                       help=f"season, or seasons one after another (default {DEFAULT_SEASONS})")
    world.add_argument("--season-seconds", type=float, default=None, metavar="S",
                       help=f"simulated seconds per season (default {DEFAULT_SEASON_S:g})")
    world.add_argument("--fps", type=float, default=10.0,
                       help="camera frames per simulated second (default 10)")
    world.add_argument("--seed", type=int, default=0,
                       help="garden seed (dock, soil, camera noise; default 0)")
    world.add_argument("--drive-frames", type=int, default=100, metavar="N",
                       help="after a retrain, run on until the new adapter has driven N frames "
                            "(default 100; at most 120 s more, simulated or wall-clock, whichever "
                            "is longer)")
    auto = p.add_argument_group(
        "autonomous: many simulated days, nobody there (tools/autonomy; docs/simulate.md)")
    auto.add_argument("--autonomous", action="store_true",
                      help="drive day after day through a compressed year in --garden: the "
                           "drift alarm and the nightly schedule start every retrain, the robot "
                           "learns from its own label sources only; writes the timeline")
    auto.add_argument("--days", type=int, default=None, metavar="N",
                      help=f"simulated days (default {AUTO_DEFAULTS.days})")
    auto.add_argument("--first-day", type=int, default=None, metavar="D",
                      help="day of the year to start on, 0 = first day of spring (default: two "
                           "days before summer starts turning into autumn)")
    auto.add_argument("--season-days", type=float, default=None, metavar="D",
                      help=f"days per season: the compressed year (default "
                           f"{AUTO_DEFAULTS.season_days:g})")
    auto.add_argument("--transition-days", type=float, default=None, metavar="D",
                      help="days over which one season blends into the next (default "
                           f"{AUTO_DEFAULTS.transition_days:g})")
    auto.add_argument("--day-seconds", type=float, default=None, metavar="S",
                      help="simulated seconds of work each day, from the dock (default "
                           f"{AUTO_DEFAULTS.day_seconds:g}; a day is one session of the drift "
                           "alarm, which counts once longer than [triggers] drift_hold_s)")
    auto.add_argument("--eval-views", type=int, default=None, metavar="N",
                      help="held-back evaluation views of each day's look (default "
                           f"{AUTO_DEFAULTS.eval_views})")
    auto.add_argument("--no-weather", action="store_true",
                      help="every day of a season looks alike (no weather, same hour)")
    auto.add_argument("--timeline", type=Path, default=None, metavar="DIR",
                      help="where timeline.json and timeline.png go (default out/autonomous)")
    src = p.add_argument_group("replay instead: recordings or a video")
    src.add_argument("--recording", action="append", type=Path, metavar="DIR", default=[],
                     help="a recording folder; repeat for a sequence (e.g. summer, autumn); "
                          "`--recording samples` plays the bundled sample recordings")
    src.add_argument("--video", type=Path, metavar="FILE",
                     help="any video file: no labels, no telemetry (no accuracy is shown)")
    src.add_argument("--frame-step", type=int, default=1, metavar="N",
                     help="play every N-th frame (default 1)")
    src.add_argument("--max-frames", type=int, metavar="N",
                     help="play at most N frames of each recording")
    src.add_argument("--speed", type=float, default=None,
                     help="playback speed: 1 = real time (default; --autonomous: 0), 0 = as "
                          "fast as it goes")
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
                       help="press the retrain button after N frames of the last recording or "
                            f"season (default: {100 * DEFAULT_PRESS_AT:.0f}%% of them); -1 = never")
    learn.add_argument("--annotate", type=float, default=None, metavar="FRACTION",
                       help="share of labelled frames whose dense label maps go to the buffer "
                            f"(default {DEFAULT_ANNOTATE_CLOSED:g} in the closed loop, "
                            f"{DEFAULT_ANNOTATE_REPLAY:g} in a replay; 0 = none)")
    learn.add_argument("--owner-answers", type=int, default=None, metavar="K",
                       help="closed loop: the simulated owner answers at most K of the robot's "
                            "questions from the garden's truth before the retrain (default "
                            f"{DEFAULT_OWNER_ANSWERS}; 0 = no answers)")
    learn.add_argument("--holdout", type=float, default=0.3, metavar="FRACTION",
                       help="last share of each recording kept for evaluation, never learned "
                            "from (default 0.3)")
    learn.add_argument("--oracle-eyes", action="store_true",
                       help="closed loop: drive on each frame's true cells (the oracle's "
                            "reference run; what the memory of places then votes is the truth)")
    learn.add_argument("--places", choices=("on", "off"), default=None,
                       help="closed loop: label a new season's frames from the memory of places "
                            "(default: the config's [experience] places; docs/places.md)")
    learn.add_argument("--pseudo", choices=("on", "off"), default=None,
                       help="closed loop: pseudo-labels, confident predictions seen the same "
                            "from several viewpoints (default: the config's [experience] pseudo)")
    learn.add_argument("--place-drift", type=float, default=0.0, metavar="DEG_PER_M",
                       help="add this odometry heading drift (degrees per metre) for the memory "
                            "of places: measures how drift hurts its labels (default 0)")
    learn.add_argument("--place-shadow-drifts", default="", metavar="D[,D...]",
                       help="also measure place-label precision under these drifts (deg/m), "
                            "on maps that label nothing")
    learn.add_argument("--place-drift-alternates", action="store_true",
                       help="the added drift changes sign every day (the worst case for a map "
                            "made on one day and read on the next)")
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
    if args.autonomous:
        return _autonomous(args)
    if args.speed is None:
        args.speed = 1.0
    auto_only = [o for o, v in (("--days", args.days), ("--first-day", args.first_day),
                                ("--season-days", args.season_days),
                                ("--transition-days", args.transition_days),
                                ("--day-seconds", args.day_seconds),
                                ("--eval-views", args.eval_views),
                                ("--timeline", args.timeline)) if v is not None]
    if auto_only or args.no_weather:
        raise GardenbotError(f"{(auto_only or ['--no-weather'])[0]} goes with --autonomous")
    if args.recording and args.video:
        raise GardenbotError("give --recording or --video, not both")
    replay = bool(args.recording or args.video)
    if args.annotate is None:
        args.annotate = DEFAULT_ANNOTATE_REPLAY if replay else DEFAULT_ANNOTATE_CLOSED
    if args.speed < 0 or args.frame_step < 1 or not 0 <= args.holdout < 1 \
            or not 0 <= args.annotate <= 1:
        raise GardenbotError("--speed must be >= 0, --frame-step >= 1, --holdout in [0, 1) "
                             "and --annotate in [0, 1]")
    if args.owner_answers is None:
        args.owner_answers = 0 if replay else DEFAULT_OWNER_ANSWERS
    if args.owner_answers < 0 or (replay and args.owner_answers > 0):
        raise GardenbotError("--owner-answers must be >= 0, and is for the closed loop: the "
                             "simulated owner answers from the garden's truth")
    if replay and (args.garden or args.season or args.season_seconds):
        raise GardenbotError("--garden/--season/--season-seconds drive a synthetic garden; "
                             "they do not go with --recording or --video")
    if args.fps <= 0 or args.drive_frames < 0:
        raise GardenbotError("--fps must be > 0 and --drive-frames >= 0")
    for switch in ("places", "pseudo"):
        if getattr(args, switch) is not None:
            setattr(args, switch, getattr(args, switch) == "on")
    try:
        args.place_shadow_drifts = tuple(float(d) for d in args.place_shadow_drifts.split(",")
                                         if d.strip())
    except ValueError:
        raise GardenbotError("--place-shadow-drifts takes numbers: D[,D...] degrees per "
                             "metre") from None
    if not all(math.isfinite(d) for d in (args.place_drift, *args.place_shadow_drifts)):
        raise GardenbotError("--place-drift and --place-shadow-drifts must be finite")
    cfg = load_config(args.config) if args.config else Config()
    if [str(r) for r in args.recording] == ["samples"]:
        from models import SAMPLES_DIR

        args.recording = find_samples(SAMPLES_DIR)
        if not args.recording:
            raise RecordingError(f"{SAMPLES_DIR}: no sample recordings there")
    extra: dict[str, object] = {}
    if not replay:
        extra = _closed_loop(args)
    temp = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="gardenbot-sim-")) if temp else args.data_dir
    # an option left unset keeps SimulationOptions' default (--eval-views is --autonomous's)
    options = SimulationOptions(**{f.name: getattr(args, f.name) for f in fields(SimulationOptions)
                                   if hasattr(args, f.name) and f.name != "garden"
                                   and getattr(args, f.name) is not None}, **extra)
    web = start_dashboard(cfg, args.web_port, None) if args.web else None
    try:
        summary = simulate(options, cfg, data_dir, dashboard=web)
    finally:
        if web is not None:
            web.close()
        if temp:
            shutil.rmtree(data_dir, ignore_errors=True)
    if args.json:  # first: a run's numbers are kept even if printing them fails
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(format_summary(summary))
    return 0


def _autonomous(args: argparse.Namespace) -> int:
    """`--autonomous`: the days of tools/autonomy/days.py, then the timeline."""
    from tools.autonomy.days import SOURCES, AutonomyOptions, run_days
    from tools.autonomy.timeline import format_summary, summarize, write
    from tools.bench.labels import by_name
    from tools.garden.layout import parse_garden_id

    clash = [o for o, v in (("--recording", args.recording), ("--video", args.video),
                            ("--season", args.season), ("--season-seconds", args.season_seconds),
                            ("--press-after", args.press_after), ("--annotate", args.annotate),
                            ("--owner-answers", args.owner_answers), ("--out", args.out),
                            ("--web", args.web), ("--oracle-eyes", args.oracle_eyes))
             if v not in (None, False, [])]
    if clash:
        raise GardenbotError(f"--autonomous drives days on its own (no button, no label maps, "
                             f"no owner answers); {clash[0]} does not go with it")
    try:
        garden = parse_garden_id(args.garden or DEFAULT_GARDEN)
    except ValueError as e:
        raise GardenbotError(str(e)) from e
    given = {"days": args.days, "first_day": args.first_day, "season_days": args.season_days,
             "transition_days": args.transition_days, "day_seconds": args.day_seconds,
             "eval_views": args.eval_views, "speed": args.speed}
    opts = AutonomyOptions(garden=garden, seed=args.seed, fps=args.fps,
                           weather=not args.no_weather, card=args.card, defaults=args.defaults,
                           **{k: v for k, v in given.items() if v is not None})
    try:
        opts.check()
    except ValueError as e:
        raise GardenbotError(str(e)) from e
    cfg = load_config(args.config) if args.config else Config()
    temp = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="gardenbot-auto-")) if temp else args.data_dir
    try:
        results = run_days(opts, cfg, data_dir, by_name()[SOURCES], say=print)
    finally:
        if temp:
            shutil.rmtree(data_dir, ignore_errors=True)
    results["summary"] = summarize(results)
    written = write(results, args.timeline or Path("out/autonomous"))
    if args.json:
        shutil.copyfile(written["json"], args.json)
    print(format_summary(results, results["summary"]))
    print(f"\nwritten: {written['png']}, {written['json']}")
    return 0


def _closed_loop(args: argparse.Namespace) -> dict[str, object]:
    """The garden and its stages from --garden/--season/--season-seconds (clear errors)."""
    from robot.sim.closed_loop import parse_stages
    from tools.garden.live import LiveGarden

    seconds = DEFAULT_SEASON_S if args.season_seconds is None else args.season_seconds
    try:
        stages = parse_stages(args.season or DEFAULT_SEASONS, seconds)
        garden = LiveGarden(args.garden or DEFAULT_GARDEN, stages[0].season, seed=args.seed)
    except ValueError as e:
        raise GardenbotError(str(e)) from e
    return {"garden": garden, "stages": tuple(stages)}


def _drop_plain_stderr_handlers(root: logging.Logger) -> None:
    """The dispatcher's basicConfig handler; ours replaces it (pytest's stay)."""
    for h in list(root.handlers):
        if type(h) is logging.StreamHandler and getattr(h, "stream", None) is sys.stderr:
            root.removeHandler(h)


