"""`gardenbot simulate` end to end on small painted recordings, and how it fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot.commands.gardenbot import main as cli
from robot.sim.session import find_samples
from tests.tiny_robot import write_painted_recording


@pytest.fixture(scope="module")
def seasons(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("seasons")
    return (write_painted_recording(root / "summer", frames=30, season="summer"),
            write_painted_recording(root / "autumn", frames=40, season="autumn", bump_last=4))


@pytest.mark.slow
def test_season_change_retrain_and_recovery(seasons, tiny_backbone_card, tiny_defaults,
                                            tmp_path, capsys):
    summer, autumn = seasons
    out = tmp_path / "sim.mp4"
    code = cli(["simulate", "--recording", str(summer), "--recording", str(autumn),
                "--card", str(tiny_backbone_card), "--defaults", str(tiny_defaults),
                "--config", str(_fp32_config(tmp_path)), "--speed", "0", "--press-after", "8",
                "--out", str(out), "--json", str(tmp_path / "s.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 70 and s["ended"] == "end of input"
    # commands reached the MCU: the emulator itself counted every acknowledged one
    link, mcu = s["link"], s["mcu"]
    assert link["drives_sent"] + link["drives_superseded"] == 70, "one command per frame"
    assert link["drives_acked"] == link["drives_sent"] > 30 and not link["failures"]
    assert mcu["commands"]["Drive"] == link["drives_sent"] and mcu["rx_errors"] == 0
    assert link["waters_acked"] == mcu["waters"] == 1, "the dry zone ahead was watered once"
    assert link["failsafe_events"] == 0
    # the retrain: pressed in autumn, published, and better on autumn without losing summer
    [retrain] = s["retrains"]
    assert retrain["reason"] == "button" and retrain["state"] == "published"
    assert s["adapter"] == {"start": 1, "end": 2}
    held = s["held_back"]
    assert held["autumn"]["v2"] > held["autumn"]["v1"] + 0.2
    assert held["summer"]["v2"] >= held["summer"]["v1"] - 0.05
    assert held["summer"]["v1"] > held["autumn"]["v1"] + 0.2, "autumn looks new to v1"
    # experience labels were made from the telemetry and checked against the label maps
    assert s["experience"]["labels"]["traversable"] > 0
    # every labelled frame of the replay was judged against the oracle's decision on it
    assert s["drive"]["summer|v1"]["frames"] == 30, "every frame is labelled"
    autumn = [d for k, d in s["drive"].items() if k.startswith("autumn")]
    assert sum(d["reasons"].get("backoff", 0) for d in autumn) > 0, \
        "the recorded bumps set off the bump reflex"
    assert sum(d["frames"] for d in autumn) == 40, "the policy's own decisions, every frame"
    assert s["buffer"]["accepted"]["annotation"] > 0
    assert out.stat().st_size > 10_000
    text = captured.out
    assert "held back" in text and "summer" in text and "autumn" in text
    assert "button: published as v2" in text
    assert f"the emulated MCU received: Drive {link['drives_sent']}" in text


def _fp32_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "sim.toml"
    cfg.write_text('[perception]\nvariant = "fp32"\nthreads = 1\n')
    return cfg


def test_a_corrupt_recording_is_a_clear_error(seasons, tiny_backbone_card, tiny_defaults,
                                              tmp_path, capsys):
    bad = tmp_path / "bad"
    write_painted_recording(bad, frames=12)
    video = bad / "video.mp4"
    video.write_bytes(video.read_bytes()[:2000])  # cut short: no index, frames missing
    code = cli(["simulate", "--recording", str(seasons[0]), "--recording", str(bad),
                "--card", str(tiny_backbone_card), "--defaults", str(tiny_defaults),
                "--config", str(_fp32_config(tmp_path))])
    assert code == 1
    err = capsys.readouterr().err
    assert "gardenbot simulate: error:" in err and str(video) in err


def test_a_missing_model_is_a_clear_error(seasons, tiny_defaults, tmp_path, capsys):
    code = cli(["simulate", "--recording", str(seasons[0]), "--card",
                str(tmp_path / "nothing.json"), "--defaults", str(tiny_defaults)])
    assert code == 1
    assert "backbone model card is missing" in capsys.readouterr().err


def test_defaults_for_another_backbone_are_refused(seasons, tiny_backbone_card, tmp_path,
                                                   capsys):
    code = cli(["simulate", "--recording", str(seasons[0]), "--card", str(tiny_backbone_card),
                "--defaults", str(tmp_path / "empty"), "--config", str(_fp32_config(tmp_path))])
    assert code == 1
    assert "no starting adapter" in capsys.readouterr().err


def test_bad_arguments_are_refused(seasons, capsys):
    assert cli(["simulate", "--recording", str(seasons[0]), "--video", "x.mp4"]) == 1
    assert "not both" in capsys.readouterr().err
    assert cli(["simulate", "--recording", str(seasons[0]), "--holdout", "1.5"]) == 1


def test_samples_are_played_in_season_order_or_as_the_manifest_says(seasons, tmp_path):
    import shutil

    summer, autumn = seasons
    folder = tmp_path / "samples"
    for name, src in (("a-autumn", autumn), ("b-summer", summer)):
        shutil.copytree(src, folder / name)
    assert [p.name for p in find_samples(folder)] == ["b-summer", "a-autumn"]
    (folder / "manifest.json").write_text(json.dumps({"recordings": ["a-autumn"]}))
    assert [p.name for p in find_samples(folder)] == ["a-autumn"]
    assert find_samples(tmp_path / "none") == []


def test_an_emulator_that_dies_stops_the_simulation_with_a_clear_error():
    import time

    from robot.runtime.loop import Tick
    from robot.seeing.camera import CameraFrame
    from robot.sim.world import EmulatorWorld, SimulationError

    world = EmulatorWorld([None], [0.0])
    try:
        world.mcu.proc.close(kill=True)
        tick = Tick(0, time.monotonic(), frame=CameraFrame(0, 0.0, np.zeros((4, 4, 3), np.uint8)))
        with pytest.raises(SimulationError, match=r"the MCU emulator \(pid \d+\) died"):
            world.run(tick)
    finally:
        world.shutdown()


def test_synthetic_watering_zones_become_circles_of_equal_area():
    from robot.common.geometry import CameraModel
    from robot.seeing.recording import RecordingMeta
    from robot.sim.world import zones_of

    square = [[2.0, 1.0], [4.0, 1.0], [4.0, 3.0], [2.0, 3.0]]  # 2 m × 2 m around (3, 2)
    meta = RecordingMeta(10.0, 64, 48, CameraModel.from_fov(64, 48, 70, 0.35, 32), extra={
        "watering_zones": [{"zone": f"z{i}", "outline": square} for i in range(5)]})
    zones = zones_of(meta)
    assert [z.name for z in zones] == ["z0", "z1", "z2", "z3"], "the pump has 4 valves"
    z = zones[0].zone
    assert (z.x_m, z.y_m) == pytest.approx((3.0, 2.0))
    assert np.pi * z.radius_m**2 == pytest.approx(4.0)



def test_the_summary_says_how_many_frames_of_each_recording_were_played(
        seasons, tiny_backbone_card, tiny_defaults, tmp_path, capsys):
    summer, autumn = seasons
    code = cli(["simulate", "--recording", str(summer), "--recording", str(autumn),
                "--card", str(tiny_backbone_card), "--defaults", str(tiny_defaults),
                "--config", str(_fp32_config(tmp_path)), "--speed", "0", "--press-after", "-1",
                "--max-frames", "3", "--json", str(tmp_path / "s.json")])
    out = capsys.readouterr().out
    assert code == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 6
    assert s["inputs"] == ["summer (summer, 3 of 30 frames)", "autumn (autumn, 3 of 40 frames)"]
    assert "summer (summer, 3 of 30 frames) → autumn (autumn, 3 of 40 frames)" in out


@pytest.mark.slow
def test_closed_loop_drives_a_synthetic_garden_and_judges_each_season_against_the_oracle(
        tiny_backbone_card, tiny_defaults, tmp_path, capsys):
    code = cli(["simulate", "--garden", "g07", "--season", "summer,autumn",
                "--season-seconds", "4", "--card", str(tiny_backbone_card),
                "--defaults", str(tiny_defaults), "--config", str(_fp32_config(tmp_path)),
                "--speed", "0", "--press-after", "-1", "--json", str(tmp_path / "s.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["frames"] == 80 and s["ended"] == "end of input"
    assert s["closed_loop"]["stages"] == [["summer", 4.0], ["autumn", 4.0]]
    drive = s["drive"]
    assert set(drive) == {"summer|v1", "autumn|v1"}
    for season in ("summer", "autumn"):
        d = drive[f"{season}|v1"]
        assert d["frames"] == 40, "every frame has a label map, so every frame has a verdict"
        assert d["seconds"] == pytest.approx(4.0, abs=0.15)
        assert 0.0 <= d["false_stop_rate"] <= 1.0 if d["false_stop_rate"] is not None else True
        assert sum(d["reasons"].values()) == 40
    # held-back views from fixed poses, per season
    assert set(s["held_back"]) == {"summer", "autumn"}
    assert s["held_back"]["summer"]["frames"] == 20
    # the commands really went through the link to the MCU
    assert s["mcu"]["commands"]["Drive"] == s["link"]["drives_sent"] > 40
    assert "how the robot drove" in captured.out


def test_a_bad_garden_or_season_is_a_clear_error(capsys):
    assert cli(["simulate", "--garden", "my-lawn"]) == 1
    assert "my-lawn" in capsys.readouterr().err
    assert cli(["simulate", "--season", "summer,fall"]) == 1
    assert "unknown season 'fall'" in capsys.readouterr().err
    assert cli(["simulate", "--recording", "x", "--garden", "g07"]) == 1
    assert "do not go with --recording" in capsys.readouterr().err


@pytest.mark.slow
def test_closed_loop_runs_on_until_the_new_adapter_has_driven(tiny_backbone_card, tiny_defaults,
                                                              tmp_path, capsys):
    code = cli(["simulate", "--garden", "g07", "--season", "autumn", "--season-seconds", "2",
                "--press-after", "5", "--drive-frames", "15", "--annotate", "0.5",
                "--card", str(tiny_backbone_card), "--defaults", str(tiny_defaults),
                "--config", str(_fp32_config(tmp_path)), "--speed", "0",
                "--json", str(tmp_path / "s.json")])
    assert code == 0, capsys.readouterr().err
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["retrains"][0]["state"] == "published"
    v2 = s["drive"]["autumn|v2"]
    assert sum(v2["reasons"].values()) >= 15, "the new adapter drove its frames"
    assert s["frames"] > 20 and s["closed_loop"]["extra_frames"] == s["frames"] - 20


@pytest.mark.slow
def test_closed_loop_owner_answers_from_the_gardens_truth(tiny_backbone_card, tiny_defaults,
                                                          tmp_path, capsys):
    code = cli(["simulate", "--garden", "g07", "--season", "autumn", "--season-seconds", "3",
                "--press-after", "25", "--drive-frames", "5", "--owner-answers", "2",
                "--annotate", "0",
                "--card", str(tiny_backbone_card), "--defaults", str(tiny_defaults),
                "--config", str(_fp32_config(tmp_path)), "--speed", "0",
                "--json", str(tmp_path / "s.json")])
    out = capsys.readouterr()
    assert code == 0, out.err
    s = json.loads((tmp_path / "s.json").read_text())
    owner = s["owner"]
    assert 1 <= owner["answered"] <= 2 and owner["asked"] >= owner["answered"]
    assert 0.0 < owner["precision"] <= 1.0 and owner["correct"] <= owner["cells"]
    assert s["buffer"]["offered"]["owner"] == owner["cells"]
    assert "annotation" not in s["buffer"]["offered"], "no dense maps: owner answers only"
    assert f"the simulated owner answered {owner['answered']} of at most 2" in out.out


def test_owner_answers_are_for_the_closed_loop_only(capsys):
    assert cli(["simulate", "--recording", "x", "--owner-answers", "3"]) == 1
    assert "--owner-answers must be >= 0, and is for the closed loop" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--place-shadow-drifts", "1,x"], "--place-shadow-drifts takes numbers"),
    (["--place-drift", "nan"], "must be finite"),
])
def test_bad_place_drift_flags_are_a_clear_error(flags, message, capsys):
    assert cli(["simulate", "--places", "on", *flags]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_retrain_lands_on_the_simulated_clock_whatever_the_machine(tiny_backbone_card,
                                                                     tiny_defaults, tmp_path):
    from robot.runtime.config import load_config
    from robot.sim.closed_loop import Stage
    from robot.sim.session import SimulationOptions, simulate
    from tools.garden.live import LiveGarden

    options = SimulationOptions(
        speed=0, card=tiny_backbone_card, defaults=tiny_defaults,
        garden=LiveGarden("g07", "autumn"), stages=(Stage("autumn", 6.0),), press_after=5,
        drive_frames=15, eval_views=2, learn_s=2.0, quiet=True)
    s = simulate(options, load_config(_fp32_config(tmp_path)), tmp_path / "data")
    [retrain] = s["retrains"]
    assert retrain["state"] == "published"
    t, _, version = s["version_changes"][0]
    assert version == "v2"
    # at --speed 0 a retrain of a few wall seconds would otherwise land tens of simulated
    # seconds later; the loop waited for it at 2.0 s and swapped on the next frame
    assert retrain["requested_t"] + 2.0 <= t <= retrain["requested_t"] + 2.15
