from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robot.common.errors import ModelError
from robot.seeing.backbone import Backbone, load_card, verify
from tools.backbone.arch import ArchConfig, DeployedBackbone, GardenNet
from tools.backbone.export import (
    export_onnx,
    feature_agreement,
    grid_geometry,
    quantize_int8,
    run_onnx,
    write_card,
)

TINY = ArchConfig(stem=8, widths=(16, 24, 32), depths=(1, 1, 1), feature_dim=16, expand=2)
HW = (96, 128)


def smooth_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """Garden-ish frames: blurred colour noise, so features vary like on real images."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        f = rng.integers(0, 255, (HW[0] // 8, HW[1] // 8, 3), dtype=np.uint8)
        f = cv2.resize(f, (HW[1], HW[0]), interpolation=cv2.INTER_CUBIC)
        out.append(np.clip(f.astype(int) + rng.integers(-20, 20, f.shape), 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    out = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    net = GardenNet(TINY)
    # give BatchNorm non-trivial statistics, as a trained net would have
    net.train()
    with torch.no_grad():
        for f in smooth_frames(8, seed=5):
            net(DeployedBackbone(net).pre(torch.from_numpy(f)[None]))
    net.eval()
    export_onnx(net, HW, out / "backbone.onnx", colour_stats=16)
    quantize_int8(out / "backbone.onnx", out / "backbone.int8.onnx", smooth_frames(16, seed=1))
    stride, dim = grid_geometry(net, HW)
    dim += 43  # the colour statistics appended by export_onnx
    write_card(out, "tiny", HW, stride, dim,
               {"fp32": out / "backbone.onnx", "int8": out / "backbone.int8.onnx"},
               (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), {})
    return out, net


def test_onnx_features_match_torch(exported):
    out, net = exported
    model = DeployedBackbone(net, colour_stats=16).eval()
    frames = smooth_frames(3, seed=9)
    onnx_feats = run_onnx(out / "backbone.onnx", frames)
    with torch.no_grad():
        for f, got in zip(frames, onnx_feats, strict=True):
            want = model(torch.from_numpy(f)[None])[0].numpy()
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_runtime_backbone_gives_a_feature_grid(exported):
    out, _ = exported
    bb = Backbone(out / "backbone.json", variant="fp32")
    assert bb.grid_hw == (6, 8) and bb.feature_dim == 16 + 43
    # a frame of another size is resized to the model's input
    feats = bb.features(np.zeros((200, 300, 3), np.uint8))
    assert feats.shape == (6, 8, 59) and feats.dtype == np.float32
    with pytest.raises(ValueError, match="uint8"):
        bb.features(np.zeros((96, 128), np.float32))


def test_int8_agrees_with_fp32(exported):
    out, _ = exported
    frames = smooth_frames(6, seed=42)  # not the calibration frames
    agreement = feature_agreement(run_onnx(out / "backbone.onnx", frames),
                                  run_onnx(out / "backbone.int8.onnx", frames))
    assert agreement["cosine_mean"] > 0.95
    assert agreement["cells"] == 6 * 6 * 8


def test_card_describes_the_files(exported):
    out, _ = exported
    card = load_card(out / "backbone.json")
    assert card.stride == 16 and card.feature_dim == 59 and card.input_hw == HW
    assert card.backbone_id == card.files["fp32"][1] and len(card.backbone_id) == 64
    assert verify(card, "int8").name == "backbone.int8.onnx"


def test_tampered_model_is_refused(exported, tmp_path: Path):
    out, _ = exported
    copy = tmp_path / "m"
    copy.mkdir()
    for p in out.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    data = bytearray((copy / "backbone.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "backbone.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its card"):
        Backbone(copy / "backbone.json", variant="fp32")
    # the untouched int8 twin still loads
    Backbone(copy / "backbone.json", variant="int8")


def test_missing_model_and_card_are_clear_errors(exported, tmp_path: Path):
    with pytest.raises(ModelError, match="model card is missing"):
        load_card(tmp_path / "backbone.json")
    out, _ = exported
    card = json.loads((out / "backbone.json").read_text())
    card["files"]["fp32"]["path"] = "gone.onnx"
    (tmp_path / "backbone.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="gone.onnx: model file is missing"):
        Backbone(tmp_path / "backbone.json", variant="fp32")
    (tmp_path / "backbone.json").write_text("{")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_card(tmp_path / "backbone.json")


def test_grid_geometry_rejects_non_grids():
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        grid_geometry(torch.nn.Flatten(), (32, 32))


def test_perception_side_never_imports_torch(exported):
    out, _ = exported
    code = (
        "import sys, numpy as np\n"
        "from robot.seeing.backbone import Backbone\n"
        f"bb = Backbone({str(out / 'backbone.json')!r}, variant='int8')\n"
        "bb.features(np.zeros((96, 128, 3), np.uint8))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])


@pytest.mark.slow
def test_export_a_users_module_from_the_cli(tmp_path: Path):
    from tests.conftest import write_small_recording

    write_small_recording(tmp_path / "calib", n=6, width=64, height=48)
    from robot.commands.gardenbot import main

    rc = main(["backbone", "export", "--from-module", "tests.tools.backbone.user_module:make",
               "--out", str(tmp_path / "m"), "--input-size", "64x48",
               "--calibration", str(tmp_path / "calib"), "--calibration-frames", "6"])
    assert rc == 0
    card = load_card(tmp_path / "m" / "backbone.json")
    groups = card.raw["output"]["channel_groups"]
    # the smooth colour statistics by default (no histograms: docs/backbone.md)
    assert [(g["name"], g["count"]) for g in groups] == [("learned", 12), ("colour_stats", 13)]
    assert (card.stride, card.feature_dim, card.input_hw) == (8, 25, (48, 64))
    assert card.raw["input"]["normalisation"]["mean_rgb"] == [0.5, 0.5, 0.5]
    assert card.raw["int8_agreement"]["frames"] > 0
    assert Backbone(card, variant="int8").features(np.zeros((48, 64, 3), np.uint8)).shape == (
        6, 8, 25)


def test_export_refuses_a_factory_that_is_not_a_module():
    from tools.backbone.export import load_factory

    with pytest.raises(ValueError, match="not a torch.nn.Module"):
        load_factory("tests.tools.backbone.user_module:not_a_module")
    with pytest.raises(ValueError, match="cannot load"):
        load_factory("tests.tools.backbone.user_module:nope")
    with pytest.raises(ValueError, match="pkg.module:factory"):
        load_factory("no_colon")
