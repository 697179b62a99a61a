"""`gardenbot bench drive` end to end on one garden and season (tiny backbone, seconds)."""

from __future__ import annotations

import json

import pytest

from robot.commands.gardenbot import main as cli


@pytest.mark.slow
def test_bench_drive_runs_shipped_retrained_and_oracle_and_judges_them(
        tiny_backbone_card, tiny_defaults, tmp_path, capsys):
    cfg = tmp_path / "fp32.toml"
    cfg.write_text('[perception]\nvariant = "fp32"\nthreads = 1\n')
    out = tmp_path / "report"
    code = cli(["bench", "drive", "--gardens", "g07", "--seasons", "autumn", "--seconds", "3",
                "--annotate", "0.5", "--card", str(tiny_backbone_card), "--defaults",
                str(tiny_defaults), "--config", str(cfg), "--out", str(out)])
    text = capsys.readouterr().out
    assert code in (0, 3, 4), text  # judged: passed, quality or timing bar failed
    r = json.loads((out / "drive.json").read_text())
    [row] = r["rows"]
    assert (row["garden"], row["season"]) == ("g07", "autumn")
    assert row["retrain"]["state"] == "published"
    for run in ("shipped", "retrained", "oracle"):
        assert row[run]["frames"] == 30, f"{run}: every frame judged against the oracle"
        assert row[run]["seconds"] == pytest.approx(3.0, abs=0.15)
    assert row["oracle"]["false_stop_rate"] in (0.0, None), "the oracle agrees with itself"
    assert row["oracle"]["missed_obstacle_rate"] in (0.0, None)
    assert {b["name"] for b in r["acceptance"]} == {"oracle", "retrained", "step"}
    assert (out / "drive.png").stat().st_size > 5_000
    assert "| g07 | autumn | oracle |" in (out / "drive.md").read_text()
    assert exit_code_matches(code, r["acceptance"])


def exit_code_matches(code: int, bars: list[dict]) -> bool:
    failed = {b["kind"] for b in bars if b["passed"] is False}
    return code == (3 if "quality" in failed else 4 if failed else 0)


def test_bench_drive_refuses_a_season_that_is_not_one(capsys):
    with pytest.raises(SystemExit) as e:
        cli(["bench", "drive", "--seasons", "monsoon"])
    assert e.value.code == 2
    assert "monsoon" in capsys.readouterr().err
