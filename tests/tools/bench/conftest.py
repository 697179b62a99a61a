"""Fixtures for the continual-learning benchmark tests: a tiny real backbone and a tiny
seasonal benchmark set written with RecordingWriter (no shared data, no generator needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robot.seeing.recording import RecordingWriter
from tests.conftest import make_meta

HW = (96, 128)  # the tiny backbone's input: a 6 x 8 grid of 16-pixel cells

# BGR colour of each class (lawn, path, soil, plant, obstacle) per season: the lawn and the
# plants change with the seasons, the path does not.
SEASON_COLOURS = {
    "spring": [(50, 170, 60), (150, 150, 150), (40, 70, 120), (170, 60, 170), (30, 30, 200)],
    "summer": [(40, 140, 40), (150, 150, 150), (40, 70, 120), (60, 130, 200), (30, 30, 200)],
    "autumn": [(50, 150, 170), (150, 150, 150), (40, 70, 120), (40, 90, 160), (30, 30, 200)],
    "winter": [(225, 225, 225), (150, 150, 150), (200, 200, 210), (120, 120, 120),
               (30, 30, 200)],
}


@pytest.fixture(scope="session")
def tiny_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (untrained, tiny) backbone exported to ONNX with its model card."""
    from tools.backbone.arch import ArchConfig, GardenNet
    from tools.backbone.export import export_onnx, grid_geometry, write_card

    out = tmp_path_factory.mktemp("tiny-backbone")
    torch.manual_seed(0)
    net = GardenNet(ArchConfig(stem=8, widths=(16, 24, 32), depths=(1, 1, 1), feature_dim=16,
                               expand=2)).eval()
    export_onnx(net, HW, out / "backbone.onnx")
    stride, dim = grid_geometry(net, HW)
    return write_card(out, "tiny", HW, stride, dim, {"fp32": out / "backbone.onnx"},
                      (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), {})


def garden_frame(season: str, layout_seed: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    """A frame of a garden: class regions on a 16-pixel grid, coloured by season, plus noise."""
    rng = np.random.default_rng(layout_seed * 1000 + t)
    cells = rng.choice(5, size=(HW[0] // 16, HW[1] // 16), p=(0.4, 0.25, 0.15, 0.15, 0.05))
    labels = np.kron(cells, np.ones((16, 16), np.int64)).astype(np.uint8)
    colours = np.array(SEASON_COLOURS[season], np.int16)
    img = colours[labels] + rng.integers(-12, 13, (*HW, 3))
    return np.clip(img, 0, 255).astype(np.uint8), labels


def write_garden(path: Path, season: str, layout_seed: int, frames: int = 4,
                 overwrite: bool = False) -> None:
    meta = make_meta(HW[1], HW[0], season=season,
                     source={"kind": "synthetic", "generator": "test", "seed": layout_seed})
    with RecordingWriter(path, meta, overwrite=overwrite) as w:
        for t in range(frames):
            img, labels = garden_frame(season, layout_seed, t)
            w.add_frame(img, labels=labels)


def write_benchmark(root: Path, seasons: tuple[str, ...] = ("spring", "summer", "winter"),
                    frames: int = 4) -> Path:
    """A benchmark set in the generator's manifest format: per step one train garden and one
    held-out garden."""
    steps = []
    for k, season in enumerate(seasons):
        recs = []
        for role, garden in (("train", 1), ("test", 7)):
            rel = f"{k}_{season}/{role}/g0{garden}"
            write_garden(root / rel, season, garden * 10 + k, frames)
            recs.append({"path": rel, "garden": f"g0{garden}", "role": role, "season": season,
                         "year": 0, "frames": frames, "labelled_frames": frames})
        steps.append({"index": k, "name": season, "season": season, "year": 0,
                      "recordings": recs})
    manifest = {"format": "gardenbot-benchmark", "format_version": 1,
                "generator": {"name": "test", "version": 1}, "quick": True, "seed": 0,
                "gardens": {"train": ["g01"], "test": ["g07"]}, "steps": steps}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def tiny_benchmark(tmp_path: Path) -> Path:
    return write_benchmark(tmp_path / "bench")
