"""`gardenbot synth` from the command line: outputs that open, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from robot.commands.gardenbot import main as gardenbot
from robot.seeing.recording import Recording
from tools.garden.benchmark import MANIFEST, STEPS, quick_plan
from tools.synth import main as synth


def test_one_recording_opens_with_labels_and_telemetry(tmp_path: Path, capsys):
    out = tmp_path / "rec"
    assert synth(["--season", "winter", "--garden", "g06", "--seconds", "1.2", "--out",
                  str(out), "--label-every", "5", "--seed", "2", "--no-progress"]) == 0
    assert "wrote 12 frames (3 labelled) of g06 (test) in winter" in capsys.readouterr().out
    rec = Recording(out)
    assert len(rec) == 12 and rec.meta.season == "winter"
    assert rec.labelled == (0, 5, 10)
    assert rec.meta.source == {"kind": "synthetic", "generator": "gardenbot-synth 1", "seed": 2,
                               "garden": "g06"}
    extra = rec.meta.extra
    assert extra["garden"]["role"] == "test" and extra["label_every"] == 5
    assert extra["robot"]["ticks_per_m"] > 0 and extra["robot"]["wheel_base_m"] > 0
    zones = extra["watering_zones"]
    assert zones and all(z["probes"] and len(z["outline"]) >= 3 for z in zones)
    frames = list(rec.frames())
    assert frames[5].labels is not None and frames[6].labels is None
    assert len(rec.telemetry()) == 12


def test_fps_and_year_are_honoured(tmp_path: Path):
    out = tmp_path / "rec"
    assert synth(["--season", "spring", "--garden", "3", "--seconds", "1", "--fps", "4",
                  "--year", "1", "--out", str(out), "--no-progress"]) == 0
    rec = Recording(out)
    assert len(rec) == 4 and rec.meta.fps == 4.0 and rec.meta.extra["year"] == 1
    assert rec.meta.extra["garden"]["id"] == "g03"


@pytest.mark.parametrize("argv, message", [
    (["--season", "monsoon", "--garden", "g01", "--seconds", "1"], "invalid choice: 'monsoon'"),
    (["--season", "summer", "--garden", "g01"], "--out needs --seconds"),
    (["--season", "summer", "--garden", "lawn", "--seconds", "1"], "g00..g99"),
    (["--season", "summer", "--garden", "g01", "--seconds", "-2"], "seconds must be in"),
    (["--season", "summer", "--garden", "g01", "--seconds", "1", "--fps", "0"], "fps must be in"),
    (["--season", "summer", "--garden", "g01", "--seconds", "1", "--label-every", "0"],
     "label_every must be"),
    (["--season", "summer", "--garden", "g01", "--seconds", "abc"], "invalid float value"),
])
def test_bad_recording_arguments_are_clear_errors(tmp_path: Path, capsys, argv, message):
    out = tmp_path / "rec"
    with pytest.raises(SystemExit) as e:
        synth([*argv, "--out", str(out), "--no-progress"])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists(), "nothing is written for bad arguments"


def test_one_mode_at_a_time(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as e:
        synth(["--out", str(tmp_path / "a"), "--benchmark", str(tmp_path / "b")])
    assert e.value.code == 2 and "not allowed with" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        synth([])
    assert "one of the arguments --out --benchmark --preview is required" in \
        capsys.readouterr().err


def test_an_existing_recording_is_kept_unless_overwrite(tmp_path: Path, capsys):
    out = tmp_path / "rec"
    args = ["synth", "--season", "summer", "--garden", "g00", "--seconds", "0.5", "--out",
            str(out), "--no-progress"]
    assert gardenbot(args) == 0
    before = (out / "video.mp4").read_bytes()
    capsys.readouterr()
    assert gardenbot([*args[:-3], "--seconds", "0.3", "--out", str(out), "--no-progress"]) == 1
    assert "a recording already exists here" in capsys.readouterr().err
    assert (out / "video.mp4").read_bytes() == before and len(Recording(out)) == 5
    assert gardenbot([*args[:-3], "--seconds", "0.3", "--out", str(out), "--no-progress",
                      "--overwrite"]) == 0
    assert len(Recording(out)) == 3


def test_a_folder_with_other_files_is_not_touched(tmp_path: Path, capsys):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    code = gardenbot(["synth", "--season", "summer", "--garden", "g00", "--seconds", "0.5",
                      "--out", str(out), "--no-progress"])
    assert code == 1
    assert "folder is not empty and holds no recording" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["holiday.jpg"]


def test_benchmark_refuses_to_overwrite_a_set_or_a_foreign_folder(tmp_path: Path, capsys):
    done = tmp_path / "set"
    done.mkdir()
    (done / MANIFEST).write_text("{}")
    assert gardenbot(["synth", "--benchmark", str(done), "--quick", "--no-progress"]) == 1
    assert "a benchmark set is already here (use --overwrite)" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert gardenbot(["synth", "--benchmark", str(other), "--quick", "--no-progress"]) == 1
    assert "holds no benchmark set" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "keep me"


def test_bad_preview_arguments(tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        synth(["--preview", str(tmp_path / "sheet.jpg")])
    assert "should end in .png" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        synth(["--preview", str(tmp_path / "sheet.png"), "--gardens", "g01,lawn"])
    assert "g00..g99" in capsys.readouterr().err


def test_quick_plan_covers_the_stream_and_both_roles():
    plan = quick_plan()
    recs = plan.recordings()
    assert [name for name, _, _ in STEPS] == ["spring", "summer", "autumn", "winter",
                                              "next_spring"]
    assert {spec.year for *_, spec in recs} == {0, 1}
    assert {spec.role for *_, spec in recs} == {"train", "test"}
    assert 300 <= plan.frame_count <= 600


@pytest.mark.slow
def test_quick_benchmark_set_and_its_manifest(tmp_path: Path):
    root = tmp_path / "bench"
    assert synth(["--benchmark", str(root), "--quick", "--jobs", "2", "--no-progress"]) == 0
    m = json.loads((root / MANIFEST).read_text())
    assert m["format"] == "gardenbot-benchmark" and m["format_version"] == 1
    assert [s["name"] for s in m["steps"]] == [n for n, _, _ in STEPS]
    assert m["gardens"] == {"train": ["g00", "g01"], "test": ["g06"]}
    total = 0
    for step in m["steps"]:
        roles = {r["role"] for r in step["recordings"]}
        assert roles == {"train", "test"}
        for r in step["recordings"]:
            rec = Recording(root / r["path"])
            assert len(rec) == r["frames"] and len(rec.labelled) == r["labelled_frames"]
            assert rec.meta.season == step["season"] == r["season"]
            assert rec.meta.extra["year"] == step["year"]
            total += r["frames"]
    assert m["totals"]["frames"] == total == quick_plan().frame_count


@pytest.mark.slow
def test_preview_contact_sheet(tmp_path: Path):
    out = tmp_path / "sheet.png"
    assert synth(["--preview", str(out), "--gardens", "g06", "--scale", "0.5",
                  "--no-progress"]) == 0
    sheet = cv2.imread(str(out))
    assert sheet is not None
    assert sheet.shape[1] == 640  # two views (ground, standing things), each with its overlay
    assert sheet.shape[0] > 4 * 120  # four seasons


def _unfinished_set(root: Path) -> None:
    """What an interrupted `gardenbot synth --benchmark` leaves: step folders, no manifest."""
    for rel in ("0_spring/train/g01", "0_spring/test/g07", "1_summer/train/g01"):
        (root / rel).mkdir(parents=True)
        (root / rel / "meta.json").write_text("{}")
    (root / ".manifest.json.abc123.tmp").write_text("{")


def test_an_interrupted_benchmark_set_is_cleared_only_with_overwrite(tmp_path: Path, capsys):
    from robot.common.errors import GardenbotError
    from tools.garden.benchmark import check_target

    root = tmp_path / "set"
    _unfinished_set(root)
    assert gardenbot(["synth", "--benchmark", str(root), "--quick", "--no-progress"]) == 1
    assert "unfinished benchmark set (no manifest) is here; use --overwrite" in \
        capsys.readouterr().err
    assert (root / "0_spring/train/g01/meta.json").is_file(), "kept without --overwrite"
    check_target(root, overwrite=True)
    assert root.is_dir() and not any(root.iterdir())
    # a step-like folder that also holds something else is not ours to delete
    _unfinished_set(root)
    (root / "0_spring" / "notes.txt").write_text("keep me")
    with pytest.raises(GardenbotError, match="holds no benchmark set"):
        check_target(root, overwrite=True)
    assert (root / "0_spring" / "notes.txt").read_text() == "keep me"
