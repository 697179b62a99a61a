"""`gardenbot bench policy --quick`: the shipped adapter and the oracle on a few live-garden
views, under a small grid of policy settings (seconds)."""

from __future__ import annotations

import json
from pathlib import Path

from robot.acting.config import PolicyConfig
from tools.bench.policy_curve import REFERENCE, main, pick, setting_name
from tools.bench.verdict import EXIT_PASSED, EXIT_QUALITY_FAILED


def test_quick_run_writes_the_curve_report_json_and_plot(tmp_path: Path) -> None:
    status = main(["--quick", "--out", str(tmp_path)])
    assert status in (EXIT_PASSED, EXIT_QUALITY_FAILED)
    results = json.loads((tmp_path / "results.json").read_text())
    curve = results["train_all"]
    assert REFERENCE in curve and setting_name(PolicyConfig()) in curve
    assert len(curve) >= 4, "a curve: several settings"
    for row in curve.values():
        assert row["views"] == 2 * 4  # one training garden, two seasons, four views
        assert 0.0 <= (row["false_stop_rate"] or 0.0) <= 1.0
    assert results["chosen"] in curve
    assert {r["split"] for r in results["per_season"]} == {"train", "test"}
    assert list(results["adapters"]) == ["shipped"], "no retrain with --quick"
    assert {b["name"] for b in results["bars"]} >= {"oracle_drives_where_open",
                                                    "defaults_bump_no_more"}
    report = (tmp_path / "report.md").read_text()
    assert "## The curve" in report and REFERENCE in report
    assert (tmp_path / "curve.png").stat().st_size > 5000


def row(fs: float, mo: float, fast: float = 0.0, bumps: int = 0,
        v: float = 0.1) -> dict[str, float]:
    return {"false_stop_rate": fs, "missed_obstacle_rate": mo, "missed_fast_rate": fast,
            "bumps": bumps, "mean_speed_mps": v}


def test_pick_takes_the_fewest_false_stops_that_miss_bump_and_crawl_no_worse():
    rows = {REFERENCE: row(0.6, 0.0), "a": row(0.3, 0.25), "b": row(0.4, 0.05),
            "c": row(0.2, 0.0, bumps=1), "d": row(0.35, 0.05, fast=0.1),
            "e": row(0.405, 0.05), "f": row(0.25, 0.05, v=0.05)}
    settings = {n: PolicyConfig(unsure_block_share=0.5) for n in rows}
    assert pick(rows, settings) == "b", "a misses, c bumps, d misses at speed, f crawls"
    settings["e"] = PolicyConfig(unsure_block_share=0.25)
    assert pick(rows, settings) == "e", "as few false stops, and the unsure rim blocks sooner"
