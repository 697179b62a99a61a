"""The `gardenbot` command: a thin dispatcher to one module per subcommand.

Each subcommand module exposes ``main(argv: list[str]) -> int`` with its own argparse parser and
is imported only when used, so `gardenbot --help` stays fast and the robot never imports the
offline tools (pretraining, benchmarks) unless asked to.
"""

from __future__ import annotations

import importlib
import logging
import sys

from robot import __version__
from robot.common.errors import GardenbotError

# name -> (module, one-line help). Offline tools live in `tools`, robot commands in
# robot/commands (one module each).
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("tools.synth", "generate synthetic seasonal garden recordings and previews"),
    "backbone": ("tools.backbone.cli", "pretrain, export, probe and verify the frozen backbone"),
    "bench": ("tools.bench.cli", "benchmarks: continual learning, performance, serial link"),
    "retrain": ("robot.commands.retrain", "retrain the adapter from the replay buffer now"),
    "adapter": ("robot.commands.adapter", "list, inspect and roll back adapter versions"),
    "config": ("robot.commands.config",
               "write a commented default gardenbot.toml, or check one"),
    "doctor": ("robot.commands.doctor",
               "check camera, serial port, model files, disk, clock and config"),
    "simulate": ("tools.simulate",
                 "run the whole robot on recorded gardens, on this computer"),
    "run": ("robot.commands.run",
            "run the robot: camera, perception, policy, serial link, learner"),
    "label": ("robot.commands.label",
              "answer the robot's questions at a terminal, through its dashboard"),
    "record": ("robot.commands.record",
               "record camera frames and telemetry for replay on a desktop"),
    "defaults": ("tools.defaults", "make the shipped default adapter and replay buffer"),
}

USAGE = """usage: gardenbot [-v | -q] <command> [args...]

commands:
{commands}

Run `gardenbot <command> --help` for the options of one command."""


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return USAGE.format(commands="\n".join(lines))


def setup_logging(verbosity: int) -> None:
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S", stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    verbosity = 0
    while args and args[0] in ("-v", "-q", "--verbose", "--quiet"):
        verbosity += 1 if args.pop(0) in ("-v", "--verbose") else -1
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        print(f"gardenbot {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"gardenbot: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    setup_logging(verbosity)
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except GardenbotError as e:
        print(f"gardenbot {name}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gardenbot {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
