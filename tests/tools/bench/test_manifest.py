"""Every reader of a benchmark manifest goes through one validated reader: clear errors, never
a KeyError or a FileNotFoundError traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robot.commands.gardenbot import main as gardenbot
from robot.common.errors import RecordingError
from tools.backbone.data import manifest_recordings, train_recordings
from tools.bench.cl_stream import BenchError
from tools.bench.season_probe import load_set
from tools.defaults import train_recordings as default_recordings
from tools.garden.benchmark import load_manifest


def _edit(root: Path, change) -> None:
    path = root / "manifest.json"
    m = json.loads(path.read_text())
    change(m)
    path.write_text(json.dumps(m))


def test_load_manifest_fills_in_each_recordings_year(tiny_benchmark: Path):
    _edit(tiny_benchmark, lambda m: m["steps"][1]["recordings"][0].pop("year"))
    m = load_manifest(tiny_benchmark)
    assert [r["year"] for s in m["steps"] for r in s["recordings"]] == [0] * 6


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.pop("format"), "not a gardenbot benchmark manifest"),
    (lambda m: m.update(steps=[]), "needs a list of 'steps'"),
    (lambda m: m["steps"][0]["recordings"][0].pop("garden"), "step 0 lacks or garbles a field"),
    (lambda m: m["steps"][1]["recordings"][1].update(role="holdout"), "role 'holdout'"),
    (lambda m: m["steps"][0]["recordings"][0].update(year="first"), "year must be a whole"),
    (lambda m: m["gardens"].update(test=["g01", "g07"]), "garden g01 is both train and test"),
])
def test_every_reader_gives_the_same_clear_error(tiny_benchmark: Path, change, message):
    _edit(tiny_benchmark, change)
    for read in (load_manifest, manifest_recordings, train_recordings,
                 lambda root: load_set(root, 1)):
        with pytest.raises(BenchError, match=message):
            read(tiny_benchmark)
    with pytest.raises(RecordingError, match=message):
        default_recordings(tiny_benchmark, ("spring",))


def test_a_missing_manifest_is_a_clear_error(tmp_path: Path):
    with pytest.raises(BenchError, match="no benchmark manifest there"):
        manifest_recordings(tmp_path)
    with pytest.raises(BenchError, match="no benchmark manifest there"):
        load_set(tmp_path, 1)


def test_probe_on_missing_data_is_a_clear_error(tmp_path: Path, capsys):
    code = gardenbot(["backbone", "probe", "--synthetic", str(tmp_path / "nonexistent"),
                      "--baselines", "--out", str(tmp_path / "probe.json")])
    err = capsys.readouterr().err
    assert code == 1 and "nonexistent/manifest.json: no benchmark manifest there" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit, match="no train/ or valid/ folder"):
        gardenbot(["backbone", "probe", "--ycor", str(tmp_path / "nonexistent"), "--baselines",
                   "--out", str(tmp_path / "probe.json")])
    assert not (tmp_path / "probe.json").exists()


def test_season_probe_cli_reports_a_missing_manifest(tmp_path: Path, capsys):
    assert gardenbot(["bench", "season-probe", "--data", str(tmp_path)]) == 1
    assert "no benchmark manifest there" in capsys.readouterr().err
