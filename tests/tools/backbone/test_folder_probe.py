"""`gardenbot backbone probe --folder`: probing on a labelled folder of one's own photos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES
from tools.backbone.folder import FolderError, load_folder

SOIL, PLANT = (40, 70, 110), (50, 160, 60)  # BGR


def write_garden_folder(root: Path, n_train: int = 3, n_test: int = 2) -> None:
    """Photos of green plants on brown soil with their masks, in the lameski layout."""
    rng = np.random.default_rng(0)
    ids = {"train": [f"tr{i}" for i in range(n_train)], "test": [f"te{i}" for i in range(n_test)]}
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for image_id in ids["train"] + ids["test"]:
        lab = np.zeros((300, 400), np.uint8)
        for _ in range(6):  # plants: blocks of ~2×2 cells at the probe's 320×240 grid
            y, x = rng.integers(0, 240), rng.integers(0, 330)
            lab[y:y + 50, x:x + 60] = 1
        lab[:10, :10] = 255  # an unlabelled corner
        img = np.where(lab[..., None] == 1, PLANT, SOIL).astype(np.int16)
        img = np.clip(img + rng.integers(-15, 15, img.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"{image_id}.jpg"), img)
        cv2.imwrite(str(root / "labels" / f"{image_id}.png"), lab)
    (root / "meta.json").write_text(json.dumps({
        "classes": {"0": "bare", "1": "crop"},
        "to_gardenbot": {"bare": "soil", "crop": "plant"}, "steps": ids}))


def test_a_folder_maps_its_classes_onto_gardenbots(tmp_path: Path):
    write_garden_folder(tmp_path)
    folder = load_folder(tmp_path)
    assert folder.classes == ("soil", "plant")
    img, lab = next(folder.pairs("train", (320, 240)))
    assert img.shape == (240, 320, 3) and lab.shape == (240, 320)
    assert set(np.unique(lab)) == {DEFAULT_CLASSES.index("soil"), DEFAULT_CLASSES.index("plant"),
                                   255}


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.pop("steps"), "meta.json"),
    (lambda m: m["to_gardenbot"].update(crop="tree"), "not one of"),
    (lambda m: m["to_gardenbot"].pop("crop"), "no entry in 'to_gardenbot'"),
    (lambda m: m["steps"].update(test=m["steps"]["train"][:1]), "both train and test"),
    (lambda m: m["steps"]["test"].append("missing"), "no image images/missing"),
    (lambda m: m["classes"].update({"300": "crop"}), "outside 0..254"),
])
def test_a_malformed_folder_is_refused_with_the_reason(tmp_path: Path, change, message):
    write_garden_folder(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    change(meta)
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(FolderError, match=message):
        load_folder(tmp_path)


def test_a_class_mapped_to_null_is_ignored(tmp_path: Path):
    write_garden_folder(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["to_gardenbot"]["bare"] = None
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    _, lab = next(load_folder(tmp_path).pairs("train", (320, 240)))
    assert set(np.unique(lab)) == {DEFAULT_CLASSES.index("plant"), 255}


@pytest.mark.slow
def test_probe_on_a_folder_scores_clean_and_shifted_against_random_seeds(tmp_path: Path):
    from robot.commands.gardenbot import main
    from tests.tools.backbone.test_export import TINY
    from tools.backbone.arch import CellColourStats, GardenNet
    from tools.backbone.export import export_onnx, grid_geometry, write_card

    write_garden_folder(tmp_path / "mine")
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
                 "--folder", str(tmp_path / "mine"), "--purity", "0.9", "--shift", "0.5",
                 "--baselines", "--seeds", "2", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["_settings"] == {"purity": 0.9, "shift": 0.5, "variant": "fp32",
                                    "card": str(tmp_path / "m" / "backbone.json")}
    for name in ("backbone", "backbone[learned]", "random-init-0", "random-init-1[learned]",
                 "random-init[learned] mean of 2", "colour-texture"):
        assert set(results[name]["mine"]) == {"clean", "colour_shifted"}, name
    # green on brown: the colour baseline tells the two apart on unseen photos
    assert results["colour-texture"]["mine"]["clean"]["macro_f1"] > 0.9
    seeds = [results[f"random-init-{s}[learned]"]["mine"]["clean"]["macro_f1"] for s in (0, 1)]
    mean = results["random-init[learned] mean of 2"]["mine"]["clean"]["macro_f1"]
    assert mean == pytest.approx(np.mean(seeds), abs=1e-4)


def test_probe_refuses_a_bad_folder_before_extracting_anything(tmp_path: Path, capsys):
    from robot.commands.gardenbot import main

    (tmp_path / "mine").mkdir()
    with pytest.raises(SystemExit, match="no meta.json"):
        main(["backbone", "probe", "--baselines", "--folder", str(tmp_path / "mine")])
