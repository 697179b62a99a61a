"""`gardenbot simulate --autonomous` and `gardenbot bench autonomy`: days with nobody there, the
timeline they write, and how they fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robot.commands.gardenbot import main as cli
from tools.autonomy.timeline import format_summary, summarize


def _fp32_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "sim.toml"
    # the tiny robot sees a 6 x 8 grid: a day of 3 s gathers a few hundred labelled cells; days
    # of seconds never count for the drift alarm, so the schedule retrains every night
    cfg.write_text('[perception]\nvariant = "fp32"\nthreads = 1\n'
                   '[learner]\nmin_new_samples = 20\n[triggers]\nsettle_nights = 0\n')
    return cfg


@pytest.mark.slow
def test_an_autonomous_run_writes_a_consistent_timeline(tiny_backbone_card, tiny_defaults,
                                                         tmp_path, capsys):
    out = tmp_path / "timeline"
    code = cli(["simulate", "--autonomous", "--garden", "g07", "--days", "2", "--first-day", "7",
                "--season-days", "4", "--transition-days", "2", "--day-seconds", "6",
                "--eval-views", "2", "--card", str(tiny_backbone_card),
                "--defaults", str(tiny_defaults), "--config", str(_fp32_config(tmp_path)),
                "--timeline", str(out), "--json", str(tmp_path / "copy.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (out / "timeline.png").stat().st_size > 10_000
    r = json.loads((out / "timeline.json").read_text())
    assert json.loads((tmp_path / "copy.json").read_text()) == r
    recs = r["records"]
    assert [d["day"] for d in recs] == [7, 8]
    assert [d["season"] for d in recs] == ["summer", "autumn"], "day 8 is half turned"
    assert r["changes"] == [8.0] and r["summary"]["changes"][0]["to"] == "autumn"
    version = r["adapter_start"]
    for d in recs:
        assert d["frames"] == 60, "6 simulated s at 10 frames/s, every frame judged"
        assert d["oracle_false_stop_rate"] == 0.0
        assert d["false_stop_rate"] is None or 0.0 <= d["false_stop_rate"] <= 1.0
        assert d["held_back_frames"] == 2
        # nobody there: no button, no label map, no owner answer
        assert not {"annotation", "owner"} & set(d["labels_offered"])
        assert all(t["reason"] in ("drift", "schedule") for t in d["retrains"])
        assert d["adapter_start"] == version, "the adapter of the morning is last night's"
        published = [t for t in d["retrains"] if t["state"] == "published"]
        assert d["adapter_after_night"] == version + len(published)
        version = d["adapter_after_night"]
        b = d["buffer"]
        assert b["file_bytes"] <= b["capacity_bytes"]
        assert sum(b["by_season"].values()) == b["cells"]
    assert r["adapter_end"] == version
    assert any(t["when"] == "night" for d in recs for t in d["retrains"]), \
        "the nightly schedule retrained on what the robot gathered"
    assert r["forgetting"]["final"] == version
    assert "season change summer -> autumn" in captured.out


def test_bad_autonomous_options_are_a_clear_error(capsys):
    assert cli(["simulate", "--autonomous", "--days", "-2"]) == 1
    assert "--days must be >= 1" in capsys.readouterr().err
    assert cli(["simulate", "--autonomous", "--garden", "my-lawn"]) == 1
    assert "my-lawn" in capsys.readouterr().err
    assert cli(["simulate", "--autonomous", "--season-days", "4", "--transition-days", "5"]) == 1
    assert "--transition-days must be in" in capsys.readouterr().err
    assert cli(["simulate", "--autonomous", "--press-after", "3"]) == 1
    assert "--press-after does not go with it" in capsys.readouterr().err
    assert cli(["simulate", "--days", "3"]) == 1
    assert "--days goes with --autonomous" in capsys.readouterr().err


def test_bench_autonomy_refuses_a_bad_garden_or_day_count(capsys):
    with pytest.raises(SystemExit) as e:
        cli(["bench", "autonomy", "--gardens", "my-lawn"])
    assert e.value.code == 2 and "my-lawn" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli(["bench", "autonomy", "--days", "0"])
    assert e.value.code == 2 and "--days must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("content", [None, "{not json", '{"runs": 3}'])
def test_bench_autonomy_report_of_a_missing_or_foreign_file_is_a_clear_error(tmp_path, capsys,
                                                                               content):
    saved = tmp_path / "autonomy.json"
    if content is not None:
        saved.write_text(content)
    with pytest.raises(SystemExit) as e:
        cli(["bench", "autonomy", "--report", str(saved), "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    assert "not a saved `gardenbot bench autonomy` run" in capsys.readouterr().err
    assert not (tmp_path / "out" / "autonomy.md").exists()


@pytest.mark.parametrize("argv", [["simulate", "--help"], ["bench", "autonomy", "--help"]])
def test_help_works(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--days" in out and ("--autonomous" in out or "--quick" in out)


def _day(day: int, fsr: float, alarms: list[float] = (), retrains: list[dict] = (),
         bumps: float = 0.0) -> dict:
    return {"day": day, "season": "summer" if day < 8 else "autumn",
            "false_stop_rate": fsr, "oracle_false_stop_rate": 0.0,
            "alarms": [{"time_s": t} for t in alarms], "retrains": list(retrains),
            "bumps": int(bumps), "bumps_per_100m": bumps,
            "buffer": {"capacity_bytes": 100, "file_bytes": 90,
                       "by_season": {"summer": 5, "autumn": 5 if day >= 8 else 0}}}


def test_the_summary_times_each_change_and_counts_false_alarms():
    night = {"when": "night", "reason": "schedule", "state": "published", "version": 3}
    results = {
        "season_days": 4.0, "transition_days": 2.0, "day_seconds": 100.0, "changes": [8.0],
        "forgetting": None,
        "records": [
            _day(5, 0.02, alarms=[5 * 86_400 + 130.0]),  # a stable day: a false alarm
            _day(6, 0.01), _day(7, 0.03),
            _day(8, 0.90, alarms=[8 * 86_400 + 43_200.0]),  # half a day after the change
            # still blending: a second alarm here repeats the change's, it is not a false one
            _day(9, 0.40, retrains=[night], bumps=0.0, alarms=[9 * 86_400 + 50.0]),
            _day(10, 0.05, bumps=5.0), _day(11, 0.04),
        ],
    }
    s = summarize(results)
    [c] = s["changes"]
    assert (c["from"], c["to"]) == ("summer", "autumn")
    assert c["days_to_alarm"] == 0.5
    assert c["days_to_published"] == 2.0, "the night after day 9: drives from day 10"
    assert c["days_to_back"] == 2 and c["days_to_stay_back"] == 2
    assert c["worst_false_stop_rate"] == 0.9
    assert [a["day"] for a in s["false_alarms"]] == [5]
    assert [a["day"] for a in s["repeat_alarms_in_changes"]] == [9]
    assert s["stable_days"] == [5, 6, 10, 11]
    [after] = s["collisions_after_retrains"]
    assert after["raised"], "5 bumps per 100 m the day after a retrain, 0 the day before"
    assert s["buffer"]["within_cap"] and not s["buffer"]["seasons_missing_at_end"]


def test_the_summary_lists_the_adapters_their_trial_rolled_back():
    day = _day(9, 0.8)
    day["trials"] = [{"version": 4, "parent": 3, "rolled_back": True,
                      "reason": "rolled back to version 3: it stopped more: ..."},
                     {"version": 5, "parent": 3, "rolled_back": False, "reason": "kept: ..."}]
    day["bump_alarms"] = 1
    day["false_stop_cells"] = {"lawn → plant": 6, "lawn → unsure": 2}
    results = {"season_days": 4.0, "transition_days": 2.0, "day_seconds": 100.0,
               "changes": [], "forgetting": None, "records": [_day(8, 0.1), day],
               "garden": "g07", "seed": 0, "source_text": "the robot alone",
               "triggers": {"drift_fraction": 0.3, "drift_novelty": 0.8, "drift_sessions": 2,
                            "drift_share": 0.5, "schedule": "nightly at 02:00",
                            "min_new_samples": 500, "bump_alarm": 3, "bump_window": 600},
               "trial": {"frames": 600}}
    for r in results["records"]:
        r.update(missed_obstacle_rate=0.1, distance_m=20.0, held_back=0.9, drift_score=0.2)
    s = summarize(results)
    assert s["retrains"]["rolled_back"] == [{"day": 9, "version": 4, "parent": 3, "reason":
                                             "rolled back to version 3: it stopped more: ..."}]
    assert s["bump_alarms"] == 1
    text = format_summary(results, s)
    assert "1 rolled back: day 9 v4 -> v3" in text and "bump alarms 1" in text
    assert "v4 rolled back to v3" in text.splitlines()[-2]  # the day's row
    assert "lawn → plant 75 %" in text.splitlines()[-2], "what stopped it that day"
    assert "  autumn: lawn → plant 75 %, lawn → unsure 25 %" in text.splitlines()


@pytest.mark.slow
def test_a_drift_alarm_on_the_simulated_clock_retrains_in_the_middle_of_the_day(
        tiny_backbone_card, tiny_defaults, tmp_path, capsys):
    cfg = tmp_path / "drift.toml"
    # an alarm as touchy as can be: every frame is novel, one session of 2.5 s is enough (by
    # then the robot, driving in summer, has gathered labels to retrain on)
    cfg.write_text('[perception]\nvariant = "fp32"\nthreads = 1\n'
                   '[learner]\nmin_new_samples = 20\n'
                   '[triggers]\nschedule = "off"\ndrift_novelty = 0.0001\n'
                   'drift_fraction = 0.01\ndrift_share = 0.5\ndrift_sessions = 1\n'
                   'drift_hold_s = 2.5\n')
    out = tmp_path / "timeline"
    code = cli(["simulate", "--autonomous", "--garden", "g07", "--days", "2", "--first-day", "5",
                "--season-days", "4", "--transition-days", "2", "--day-seconds", "4",
                "--eval-views", "2", "--card", str(tiny_backbone_card),
                "--defaults", str(tiny_defaults), "--config", str(cfg), "--timeline", str(out)])
    assert code == 0, capsys.readouterr().err
    r = json.loads((out / "timeline.json").read_text())
    for d in r["records"]:
        [alarm] = d["alarms"]  # the cooldown (an hour) holds within the day, not to the next
        assert d["day"] * 86_400 + 2.5 <= alarm["time_s"] < d["day"] * 86_400 + 4, \
            "on the simulated clock: the day's start plus seconds into its work"
        assert d["novel_frame_share"] > 0.5 and d["drift_score"] > 0.0
        assert all(t["when"] == "day" and t["reason"] == "drift" for t in d["retrains"]), \
            "the schedule is off"
    drift = [t for d in r["records"] for t in d["retrains"]]
    assert drift and all(t["state"] in ("published", "rejected") for t in drift)
    assert r["summary"]["alarms"] == 2


def _pair(old_bumps: int, old_m: float, new_bumps: int, new_m: float) -> dict:
    def side(v: int, b: int, m: float) -> dict:
        return {"version": v, "distance_m": m, "bumps": b,
                "bumps_per_100m": round(100 * b / m, 2) if m else None}
    return {"old": side(3, old_bumps, old_m), "new": side(4, new_bumps, new_m)}


def test_the_pairs_judge_each_retrain_on_the_same_ground():
    days = [_day(9, 0.1), _day(10, 0.1), _day(11, 0.1), _day(12, 0.1)]
    days[1]["pair"] = _pair(0, 40.0, 1, 40.0)  # one bump: not evidence
    days[2]["pair"] = _pair(1, 50.0, 3, 50.0)  # 2 -> 6 per 100 m: raised
    days[3]["pair"] = {"old": {"version": 3}, "new": {"version": 5},
                       "why_not": "version 3 cannot drive (pruned)"}
    s = summarize({"season_days": 4.0, "transition_days": 2.0, "day_seconds": 100.0,
                   "changes": [], "forgetting": None, "records": days})
    p = s["paired_collisions"]
    assert p["raised"] == [11] and p["not_driven"] == [12]
    assert p["total"] == {"old": {"bumps": 1, "distance_m": 90.0, "bumps_per_100m": 1.11},
                          "new": {"bumps": 4, "distance_m": 90.0, "bumps_per_100m": 4.44}}
    assert summarize({"season_days": 4.0, "transition_days": 2.0, "day_seconds": 100.0,
                      "changes": [], "forgetting": None,
                      "records": days[:1]})["paired_collisions"] is None, "no pairs driven"


@pytest.mark.slow
def test_bench_autonomy_drives_the_morning_after_a_retrain_with_both_adapters(
        tiny_backbone_card, tiny_defaults, tmp_path, capsys):
    out = tmp_path / "bench"
    cli(["bench", "autonomy", "--gardens", "g07", "--days", "2", "--first-day", "7",
         "--season-days", "4", "--transition-days", "2", "--seconds", "6", "--pairs",
         "--card", str(tiny_backbone_card), "--defaults", str(tiny_defaults),
         "--config", str(_fp32_config(tmp_path)), "--out", str(out)])
    r = json.loads((out / "autonomy.json").read_text())
    first, second = r["runs"]["g07"]["records"]
    assert "pair" not in first, "nothing to compare on the first morning"
    assert second["adapter_start"] != first["adapter_start"], "the night retrained"
    pair = second["pair"]
    assert pair["old"]["version"] == first["adapter_start"]
    assert pair["new"]["version"] == second["adapter_start"], \
        "the old adapter drove last, in a copy: the robot's own store is where the night left it"
    for side in ("old", "new"):
        assert pair[side]["distance_m"] > 0, "each adapter drove the morning"
    [bar] = [b for b in r["acceptance"] if b["name"] == "collisions_paired"]
    assert "g07: 1 pairs" in bar["text"]
    assert "the same morning driven by the old and the new adapter (1 pairs)" in \
        capsys.readouterr().out
