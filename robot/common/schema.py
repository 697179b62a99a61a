"""Declaring a config key: its default, unit, one line of help and a check.

Every section of ``gardenbot.toml`` is a frozen dataclass whose fields are declared with
:func:`setting`; the sections live with the stage that reads them (seeing, acting, learning,
the runtime) and robot/runtime/config.py gathers them into the file. The checks return what is
wrong with a value ("must be > 0") or None.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import field
from typing import Any

Check = Callable[[Any], "str | None"]  # returns what is wrong with a value, or None


# --- value checks: each returns a message ("must be > 0") or None --------------------------------

def positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


def in_range(lo: float, hi: float) -> Check:
    def check(v: float) -> str | None:
        return None if lo <= v <= hi else f"must be between {lo} and {hi}"
    return check


def one_of(*choices: str) -> Check:
    def check(v: str) -> str | None:
        return None if v in choices else f"must be one of {', '.join(repr(c) for c in choices)}"
    return check


def non_empty(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_clock(text: str) -> tuple[int, int]:
    """``"02:00"`` → (2, 0); ValueError for anything else."""
    m = _CLOCK.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a 24-hour time HH:MM")
    return int(m.group(1)), int(m.group(2))


def parse_clock_range(text: str) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """``"22:00-07:00"`` → ((22, 0), (7, 0)); ``""`` → None (no range). May wrap midnight."""
    if not text.strip():
        return None
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a range HH:MM-HH:MM")
    return parse_clock(parts[0]), parse_clock(parts[1])


def clock_range_or_empty(v: str) -> str | None:
    try:
        parse_clock_range(v)
    except ValueError as e:
        return f"{e} (or \"\" for none)"
    return None


def setting(default: Any, help: str, unit: str = "", check: Check | None = None,
            required: bool = False) -> Any:
    """Declare one key: its default, one line of help, its unit and an optional check."""
    return field(default=default, metadata={"help": help, "unit": unit, "check": check,
                                            "required": required})
