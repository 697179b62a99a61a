"""Acceptance bars make the exit status: a failed quality bar 3, only timing bars failed 4."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.bench import cl
from tools.bench.verdict import (
    EXIT_PASSED,
    EXIT_QUALITY_FAILED,
    EXIT_TIMING_FAILED,
    QUALITY,
    TIMING,
    Bar,
    exit_status,
)


def test_a_quality_failure_outranks_a_timing_failure_and_info_lines_judge_nothing():
    ok, info = Bar("a", QUALITY, True, "x"), Bar("b", QUALITY, None, "x")
    slow, wrong = Bar("c", TIMING, False, "x"), Bar("d", QUALITY, False, "x")
    assert exit_status([]) == exit_status([ok, info]) == EXIT_PASSED == 0
    assert exit_status([ok, info, slow]) == EXIT_TIMING_FAILED == 4
    assert exit_status([slow, wrong]) == exit_status([wrong]) == EXIT_QUALITY_FAILED == 3
    assert exit_status([{"kind": TIMING, "passed": False}]) == EXIT_TIMING_FAILED  # JSON form


def test_verdict_lines_say_which_kind_of_bar_failed():
    assert Bar("d", QUALITY, False, "FM 12").line() == "FAIL: FM 12"
    assert Bar("c", TIMING, False, "175 s").line() == "FAIL (timing): 175 s"
    assert Bar("c", TIMING, True, "52 s").line() == "PASS: 52 s"
    assert Bar("b", QUALITY, None, "for reference").line() == "INFO: for reference"


def _finished_run(acceptance: list[dict]) -> dict:
    return {"title": "synthetic seasonal stream, quick", "durations_text": "total 175 s",
            "strategies": {}, "best": {"strategy": "replay", "AA": 0.9},
            "acceptance": acceptance}


@pytest.mark.parametrize(("passed", "status", "line"), [
    ({"duration": True, "default_fm": True}, 0, "PASS: whole run"),
    ({"duration": False, "default_fm": True}, 4, "FAIL (timing): whole run"),
    ({"duration": False, "default_fm": False}, 3, "FAIL: default FM"),
])
def test_bench_cl_exits_non_zero_when_a_bar_fails(passed, status, line, tiny_benchmark: Path,
                                                  monkeypatch, capsys):
    bars = [{"name": "default_fm", "kind": QUALITY, "passed": passed["default_fm"],
             "text": "default FM 1.0"},
            {"name": "duration", "kind": TIMING, "passed": passed["duration"],
             "text": "whole run 175 s (bar: ≤ 120 s for --quick)"}]
    monkeypatch.setattr(cl, "run_benchmark", lambda *a, **k: _finished_run(bars))
    assert cl.main(["--benchmark", str(tiny_benchmark), "--quick"]) == status
    assert line in capsys.readouterr().out
