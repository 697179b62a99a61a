"""`gardenbot defaults`: the shipped starting buffer and adapter, from train gardens only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robot.adapter.store import AdapterStore
from robot.common.errors import ModelError, RecordingError
from robot.learning.replay_buffer import ReplayBuffer
from robot.runtime.settings import prepare_data_dir
from tests.tiny_robot import write_painted_recording
from tools.defaults import main as defaults_main
from tools.defaults import train_recordings


def write_benchmark(root: Path) -> Path:
    steps = []
    for index, season in enumerate(("spring", "summer", "autumn")):
        recs = []
        for garden, role in (("g00", "train"), ("g06", "test")):
            rel = f"{index}_{season}/{role}/{garden}"
            write_painted_recording(root / rel, frames=6, season=season)
            recs.append({"path": rel, "garden": garden, "role": role, "season": season,
                         "year": 0, "seed": 0, "frames": 6, "labelled_frames": 6})
        steps.append({"index": index, "name": season, "season": season, "year": 0,
                      "recordings": recs})
    (root / "manifest.json").write_text(json.dumps({
        "format": "gardenbot-benchmark", "gardens": {"train": ["g00"], "test": ["g06"]},
        "steps": steps}))
    return root


def test_defaults_are_made_from_train_gardens_and_seed_a_data_folder(
        tiny_backbone_card, tmp_path, capsys):
    bench = write_benchmark(tmp_path / "bench")
    assert [r["path"] for r in train_recordings(bench, ("spring", "summer"))] == [
        "0_spring/train/g00", "1_summer/train/g00"]
    out = tmp_path / "default"
    assert defaults_main(["--benchmark", str(bench), "--out", str(out), "--card",
                          str(tiny_backbone_card), "--variant", "fp32",
                          "--buffer-bytes", "100000"]) == 0
    assert "adapter v1 (replay)" in capsys.readouterr().out
    info = json.loads((out / "defaults.json").read_text())
    assert info["benchmark"]["recordings"] == ["0_spring/train/g00", "1_summer/train/g00"]
    buf = ReplayBuffer.load(out / "replay_buffer.gbrb")
    assert set(buf.season_counts()) == {"spring", "summer"} and buf.nbytes <= 100_000
    assert {r for r in buf.cells().recording} <= {"g00-spring-y0", "g00-summer-y0"}
    store = AdapterStore(out / "adapters")
    assert store.current_version() == 1 and store.load()[1]["reason"] == "defaults"
    assert not list(out.rglob(".*lock")), "no lock files shipped"
    paths = prepare_data_dir(tmp_path / "robot", out, info["backbone"]["sha256"],
                             info["backbone"]["feature_dim"])
    assert AdapterStore(paths.store).current_version() == 1 and paths.buffer.is_file()
    with pytest.raises(ModelError, match="do not fit the backbone in use"):
        prepare_data_dir(tmp_path / "robot", out, "0" * 64, info["backbone"]["feature_dim"])


def test_a_benchmark_without_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(RecordingError, match="no benchmark manifest there"):
        train_recordings(tmp_path, ("spring",))
