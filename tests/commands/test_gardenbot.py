from __future__ import annotations

import subprocess
import sys

from robot.commands.gardenbot import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_an_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "robot.commands.gardenbot", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("gardenbot ")
