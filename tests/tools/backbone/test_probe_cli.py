from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot.common.classes import SEASONS
from robot.seeing.recording import RecordingWriter
from tests.conftest import make_meta


def write_tiny_benchmark(root: Path) -> None:
    """Four seasons × (train, test) recordings of blocky two-class frames, and a manifest."""
    rng = np.random.default_rng(0)
    steps = []
    for k, season in enumerate(SEASONS):
        recs = []
        for role in ("train", "test"):
            rel = f"{k}_{season}/{role}/g0"
            with RecordingWriter(root / rel, make_meta(320, 240, season=season)) as w:
                for _ in range(3):
                    lab = np.zeros((240, 320), np.uint8)
                    lab[:, 160:] = 1  # lawn left, path right
                    img = np.where(lab[..., None] == 0, (40, 160 - 20 * k, 40),
                                   (150, 150, 150)).astype(np.uint8)
                    img = np.clip(img + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
                    w.add_frame(img, labels=lab)
            recs.append({"path": rel, "garden": "g0", "role": role, "season": season,
                         "year": 0})
        steps.append({"index": k, "name": season, "season": season, "year": 0,
                      "recordings": recs})
    (root / "manifest.json").write_text(json.dumps({"format": "gardenbot-benchmark",
                                                    "steps": steps}))


@pytest.mark.slow
def test_probe_compares_backbone_groups_and_baselines(tmp_path: Path):
    from robot.commands.gardenbot import main
    from tests.tools.backbone.test_export import TINY
    from tools.backbone.arch import CellColourStats, GardenNet
    from tools.backbone.export import export_onnx, grid_geometry, write_card

    write_tiny_benchmark(tmp_path / "bench")
    net = GardenNet(TINY).eval()
    stride, dim = grid_geometry(net, (240, 320))
    export_onnx(net, (240, 320), tmp_path / "m" / "backbone.onnx", colour_stats=stride)
    groups = [{"name": "learned", "start": 0, "count": dim},
              {"name": "colour_stats", "start": dim, "count": CellColourStats(16).channels}]
    write_card(tmp_path / "m", "tiny", (240, 320), stride, dim + 43,
               {"fp32": tmp_path / "m" / "backbone.onnx"}, (0.485, 0.456, 0.406),
               (0.229, 0.224, 0.225), {"architecture": TINY.to_dict()}, groups)
    out = tmp_path / "probe.json"
    assert main(["backbone", "probe", "--card", str(tmp_path / "m" / "backbone.json"),
                 "--variant", "fp32", "--synthetic", str(tmp_path / "bench"), "--baselines",
                 "--seeds", "1", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert set(results) == {"backbone", "backbone[learned]", "backbone[colour_stats]",
                            "random-init-0", "random-init-0[learned]",
                            "random-init-0[colour_stats]", "random-init mean of 1",
                            "random-init[learned] mean of 1",
                            "random-init[colour_stats] mean of 1", "colour-texture", "_settings"}
    summary = results["colour-texture"]["synthetic"]["summary"]
    # lawn and path differ in colour and texture: every probe separates them in-season
    assert summary["same_season_accuracy"] > 0.9
    matrix = results["backbone"]["synthetic"]["one_season_to_each"]
    assert set(matrix) == set(SEASONS) and set(matrix["spring"]) == set(SEASONS)
