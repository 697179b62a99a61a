"""`--help` of every command and sub-command prints its usage and exits 0.

A '%' in a help string once made `gardenbot simulate --help` crash inside argparse; each parser
is only built when its command runs, so nothing short of asking every one for its help finds
such a slip.
"""

from __future__ import annotations

import argparse
import importlib

import pytest

from robot.commands.gardenbot import COMMANDS, main
from tools.bench.cli import BENCHMARKS


def _sub_commands(name: str) -> list[str]:
    """The sub-commands of a command: argparse sub-parsers, or the benchmarks of `bench`."""
    if name == "bench":
        return list(BENCHMARKS)
    build = getattr(importlib.import_module(COMMANDS[name][0]), "build_parser", None)
    if build is None:
        return []
    return [sub for action in build()._actions
            if isinstance(action, argparse._SubParsersAction) for sub in action.choices]


COMMAND_LINES = [[name] for name in COMMANDS] + [
    [name, sub] for name in COMMANDS for sub in _sub_commands(name)]


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse exits after printing the help
        code = e.code if isinstance(e.code, int) else 1
    return code, capsys.readouterr().out


def test_commands_with_sub_commands_are_found():
    lines = {" ".join(argv) for argv in COMMAND_LINES}
    assert {"config init", "adapter list", "bench cl", "backbone export"} <= lines


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=" ".join)
def test_help_prints_usage_and_exits_zero(argv, capsys):
    code, out = _help([*argv, "--help"], capsys)
    assert code == 0, out
    assert "usage:" in out and f"gardenbot {' '.join(argv)}" in out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_short_help_works_too(name, capsys):
    code, out = _help([name, "-h"], capsys)
    assert code == 0 and "usage:" in out
