"""`gardenbot bench autonomy`: days with nobody there on the held-out gardens, judged against
issue 17's bars."""

from __future__ import annotations

import json

import pytest

from robot.commands.gardenbot import main as cli
from tools.bench.autonomy import acceptance


@pytest.mark.slow
def test_bench_autonomy_quick_runs_the_days_and_judges_them(tiny_backbone_card, tiny_defaults,
                                                            tmp_path, capsys):
    cfg = tmp_path / "fp32.toml"
    cfg.write_text('[perception]\nvariant = "fp32"\nthreads = 1\n'
                   '[learner]\nmin_new_samples = 20\n')
    out = tmp_path / "report"
    code = cli(["bench", "autonomy", "--quick", "--days", "2", "--first-day", "9",
                "--seconds", "3", "--card", str(tiny_backbone_card), "--defaults",
                str(tiny_defaults), "--config", str(cfg), "--out", str(out)])
    text = capsys.readouterr().out
    assert code in (0, 3), text  # judged: passed, or a quality bar failed
    r = json.loads((out / "autonomy.json").read_text())
    assert list(r["runs"]) == ["g07"], "--quick: one held-out garden"
    run = r["runs"]["g07"]
    assert [d["day"] for d in run["records"]] == [9, 10] and run["day_seconds"] == 3
    assert [c["to"] for c in run["summary"]["changes"]] == ["autumn"]
    assert {b["name"] for b in r["acceptance"]} == {"detected", "false_alarms", "back",
                                                     "collisions", "buffer", "forgetting"}
    assert (out / "autonomy-g07.png").stat().st_size > 10_000
    assert "## g07" in (out / "autonomy.md").read_text()


def _run(alarm: float | None, back: int | None, observed: float, raised: bool = False,
         fm: float = 1.0, false_alarms: int = 0) -> dict:
    return {"summary": {
        "changes": [{"from": "summer", "to": "autumn", "days_to_alarm": alarm,
                     "days_to_back": back, "days_to_stay_back": back,
                     "observed_after": observed,
                     "worst_false_stop_rate": 0.9}],
        "false_alarms": [{"day": 1}] * false_alarms, "stable_days": [1, 2, 3, 4],
        "false_alarms_per_month": false_alarms / (4 / 2.67),
        "collisions_after_retrains": [{"day": 9, "version": 3, "before": 0.0, "after": 5.0,
                                       "bumps_after": 1, "probe_bumps_after": 0,
                                       "raised": raised}],
        "buffer": {"within_cap": True, "seasons_missing_at_end": []}},
        "forgetting": {"fm_points": fm}}


def test_the_bars_judge_detection_recovery_collisions_and_forgetting():
    ok = {b.name: b.passed for b in acceptance({"runs": {"g07": _run(0.5, 2, 5.0)}})}
    assert ok == {"detected": True, "false_alarms": True, "back": True, "collisions": True,
                  "buffer": True, "forgetting": True}
    bad = {b.name: b.passed for b in acceptance({"runs": {"g07": _run(
        None, None, 5.0, raised=True, fm=4.0, false_alarms=3)}})}
    assert bad == {"detected": False, "false_alarms": False, "back": False,
                   "collisions": False, "buffer": True, "forgetting": False}
    # a run that ends a day after the change cannot judge "within 2 days" or "within 3"
    short = {b.name: b.passed for b in acceptance({"runs": {"g07": _run(None, None, 1.0)}})}
    assert short["detected"] is None and short["back"] is None
