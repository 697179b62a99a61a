"""The benchmarks' acceptance bars and the exit status they make (docs/bench.md, "Exit status").

A benchmark that judges what it measured against a bar returns one ``Bar`` per bar. A bar is
either a **quality** bar (the result itself is wrong: accuracy, forgetting, a command that got
no answer) or a **timing** bar (a speed on this machine). A timing bar can fail on a loaded,
shared machine while nothing is wrong with the code, so the exit status keeps the two apart:

    0  every bar judged passed (or the benchmark judges none)
    1  the benchmark did not finish (an error; the dispatcher's usual status)
    2  bad arguments
    3  a quality bar failed (whatever the timing bars did)
    4  only timing bars failed
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

EXIT_PASSED = 0
EXIT_QUALITY_FAILED = 3
EXIT_TIMING_FAILED = 4

QUALITY: Literal["quality"] = "quality"
TIMING: Literal["timing"] = "timing"


@dataclass(frozen=True)
class Bar:
    """One acceptance line: ``passed`` is None for a line that informs and judges nothing."""

    name: str
    kind: Literal["quality", "timing"]
    passed: bool | None
    text: str

    def line(self) -> str:
        return verdict_line(self.passed, self.kind, self.text)


def verdict_line(passed: bool | None, kind: str, text: str) -> str:
    """``PASS: …``, ``FAIL: …`` (quality), ``FAIL (timing): …`` or ``INFO: …``."""
    if passed is None:
        return f"INFO: {text}"
    if passed:
        return f"PASS: {text}"
    return f"FAIL{' (timing)' if kind == TIMING else ''}: {text}"


def exit_status(bars: Iterable[Bar | dict[str, Any]]) -> int:
    """The exit status for a finished run whose bars are ``bars`` (Bars or their dicts)."""
    failed = {b.kind if isinstance(b, Bar) else b["kind"] for b in bars
              if (b.passed if isinstance(b, Bar) else b["passed"]) is False}
    if QUALITY in failed:
        return EXIT_QUALITY_FAILED
    return EXIT_TIMING_FAILED if failed else EXIT_PASSED
