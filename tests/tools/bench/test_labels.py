"""`gardenbot bench labels`: the label budget of one retrain, per source configuration."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from robot.commands.gardenbot import main as cli
from robot.runtime.config import Config
from tools.bench.labels import CONFIGURATIONS, Sources, acceptance, by_name, recovery


@pytest.mark.slow
def test_bench_labels_quick_retrains_once_per_configuration_and_judges_the_recovery(
        tiny_backbone_card, tiny_defaults, tmp_path, capsys):
    cfg = tmp_path / "fp32.toml"
    cfg.write_text('[perception]\nvariant = "fp32"\nthreads = 1\n')
    out = tmp_path / "report"
    code = cli(["bench", "labels", "--quick", "--seconds", "3", "--configs",
                "corrective,probing,dense", "--card", str(tiny_backbone_card), "--defaults",
                str(tiny_defaults), "--config", str(cfg), "--out", str(out)])
    text = capsys.readouterr().out
    assert code in (0, 3), text  # judged: passed, or a quality bar failed
    r = json.loads((out / "labels.json").read_text())
    assert [(x["garden"], x["season"], x["config"]) for x in r["rows"]] == [
        ("g07", "autumn", "corrective"), ("g07", "autumn", "probing"), ("g07", "autumn", "dense")]
    for row in r["rows"]:
        assert row["shipped"]["frames"] == 30
        assert row["accuracy_before"] is not None
    dense = r["rows"][-1]
    assert dense["labels"]["offered"].get("annotation", 0) > 0, "dense: label maps in"
    assert all("annotation" not in x["labels"]["offered"] for x in r["rows"][:2])
    assert r["rows"][0]["probe"]["probes"] == 0, "probing is off unless the row says so"
    assert {b["name"] for b in r["acceptance"]} == {"no_human", "false_stops", "owner",
                                                     "collisions", "probe_bumps"}
    assert (out / "labels.png").stat().st_size > 5_000
    assert "| g07 | autumn | probing |" in (out / "labels.md").read_text()


def row(config: str, before: float, after: float, fsr0: float, fsr1: float,
        bumps: int = 0, season: str = "autumn") -> dict:
    return {"garden": "g07", "season": season, "config": config, "accuracy_before": before,
            "accuracy_after": after, "shipped": {"false_stop_rate": fsr0, "bumps": 0,
                                                 "distance_m": 1.0},
            "retrained": {"false_stop_rate": fsr1, "bumps": bumps, "distance_m": 5.0}}


def judged(rows: list[dict], configs: list[str]) -> dict[str, bool | None]:
    recovery(rows)
    return {b.name: b.passed for b in acceptance({"rows": rows, "configs": configs})}


def test_recovery_is_the_gain_over_the_dense_gain_and_the_drop_in_false_stops():
    rows = [row("probing", 0.30, 0.62, 1.0, 0.20), row("dense", 0.30, 0.70, 1.0, 0.10)]
    recovery(rows)
    assert rows[0]["gain"] == pytest.approx(0.32)
    assert rows[0]["gain_share"] == pytest.approx(0.8)
    assert rows[0]["false_stop_drop"] == pytest.approx(0.8)
    assert rows[0]["dense_false_stops_after"] == pytest.approx(0.10)
    assert rows[1]["gain_share"] == pytest.approx(1.0)


def test_the_no_human_bars_judge_the_last_row_without_a_human_on_every_transition():
    names = ["corrective", "probing", "dense"]
    good = [row("corrective", 0.3, 0.35, 1.0, 0.9), row("probing", 0.3, 0.64, 1.0, 0.18),
            row("dense", 0.3, 0.7, 1.0, 0.1)]
    assert judged(good, names) == {"no_human": True, "false_stops": True, "owner": None,
                                   "collisions": True, "probe_bumps": None}
    short = [row("probing", 0.3, 0.5, 1.0, 0.18), row("dense", 0.3, 0.7, 1.0, 0.1)]
    assert judged(short, ["probing", "dense"])["no_human"] is False  # 50 % of the dense gain
    freezing = [row("probing", 0.3, 0.7, 1.0, 0.25), row("dense", 0.3, 0.7, 1.0, 0.1)]
    assert judged(freezing, ["probing", "dense"])["false_stops"] is False  # 2.5x the dense
    winter_missed = [*good, row("probing", 0.5, 0.5, 0.4, 0.4, season="winter"),
                     row("dense", 0.5, 0.8, 0.4, 0.1, season="winter")]
    assert judged(winter_missed, names)["no_human"] is False


def test_a_retrain_that_bumps_more_than_the_dense_one_fails_the_collision_bar():
    rows = [row("probing", 0.3, 0.7, 1.0, 0.1, bumps=2), row("dense", 0.3, 0.7, 1.0, 0.1)]
    assert judged(rows, ["probing", "dense"])["collisions"] is False


def test_probe_bumps_are_reported_per_100_m_against_the_runs_without_probing():
    rows = [row("corrective", 0.3, 0.3, 1.0, 1.0), row("probing", 0.3, 0.7, 1.0, 0.1),
            row("dense", 0.3, 0.7, 1.0, 0.1)]
    rows[1]["shipped"].update(bumps=1, distance_m=2.5)
    recovery(rows)
    bars = {b.name: b for b in acceptance({"rows": rows,
                                           "configs": ["corrective", "probing", "dense"]})}
    assert bars["probe_bumps"].passed is None
    assert "1 in 2.5 m (40/100 m) with probing, 0 in 2.0 m (0/100 m) without" in \
        bars["probe_bumps"].text


def test_a_new_source_is_one_row_whose_switches_reach_the_robots_config():
    assert [s.name for s in CONFIGURATIONS] == [
        "confirm-only", "corrective", "probing", "pseudo", "places", "owner-5", "owner-10",
        "owner-20", "owner-50", "dense"]
    more = Sources("strict-experience", "+ a stricter slip threshold", probe=True,
                   config=lambda c: replace(c, experience=replace(c.experience,
                                                                  slip_threshold=0.9)))
    cfg = more.robot_config(Config())
    assert cfg.probe.enabled and cfg.experience.set_labels
    assert cfg.experience.slip_threshold == 0.9
    off = by_name()["confirm-only"].robot_config(Config())
    assert not off.experience.set_labels and not off.probe.enabled
    assert not off.experience.places, "a source the robot has on by default is off unless asked"
    owner = by_name()["owner-10"]
    assert owner.human_answers == 10 and owner.options == {"owner_answers": 10}
    assert owner.robot_config(Config()).experience.places


def test_an_unknown_configuration_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli(["bench", "labels", "--configs", "corrective,telepathy"])
    assert e.value.code == 2
    assert "telepathy" in capsys.readouterr().err


def test_each_new_season_follows_the_season_before_and_winter_follows_a_summer_too():
    from robot.common.classes import SEASONS
    from tools.bench.labels import DAYS_BEFORE

    for season, before in DAYS_BEFORE.items():
        assert before[-1] == SEASONS[SEASONS.index(season) - 1]
    assert DAYS_BEFORE["winter"] == ("summer", "autumn")  # the memory of places keeps the summer
