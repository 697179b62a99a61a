"""The real track's split: YCOR images into green -> turning -> autumn steps by the colour of
their vegetation, on fake images whose colours are known."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES
from robot.seeing.backbone import Backbone
from tools.bench import cl
from tools.bench.cl_features import FeatureCache
from tools.bench.cl_real import BANDS, band_of, green_share, sample_sheet, ycor_stream
from tools.bench.cl_stream import BenchError

GREEN = (40, 190, 40)  # BGR: OpenCV hue 60
ORANGE = (30, 120, 230)  # BGR: hue ~ 13
SKY, TRAIL, VEGETATION = 8, 1, 7  # YCOR ids


def fake_scene(green_fraction: float | None, h: int = 96, w: int = 128
               ) -> tuple[np.ndarray, np.ndarray]:
    """Top quarter sky (painted green, to show it is ignored), a 16-pixel trail strip at the
    bottom, vegetation between: the left ``green_fraction`` of it green, the rest orange.
    None: no vegetation."""
    img = np.zeros((h, w, 3), np.uint8)
    lab = np.full((h, w), TRAIL, np.uint8)
    img[:] = (120, 120, 120)
    img[: h // 4] = GREEN
    lab[: h // 4] = SKY
    if green_fraction is not None:
        lab[h // 4: h - 16] = VEGETATION
        split = round(w * green_fraction)
        img[h // 4: h - 16, :split] = GREEN
        img[h // 4: h - 16, split:] = ORANGE
    return img, lab


def test_green_share_counts_green_against_warm_vegetation_only():
    for fraction in (1.0, 0.75, 0.5, 0.0):
        img, lab = fake_scene(fraction)
        assert green_share(img, lab) == pytest.approx(fraction, abs=0.01)


def test_grey_vegetation_and_other_classes_do_not_count():
    img, lab = fake_scene(0.5)  # vegetation: columns 0..63 green, 64..127 orange
    veg_rows = np.flatnonzero((lab == VEGETATION).any(axis=1))
    img[veg_rows[0]: veg_rows[-1] + 1, :32] = (90, 90, 90)
    # grey (unsaturated) vegetation has no hue worth reading: 32 green columns left, 64 orange
    assert green_share(img, lab) == pytest.approx(32 / 96, abs=0.01)


def test_an_image_without_enough_vegetation_has_no_share():
    assert green_share(*fake_scene(None)) is None
    assert band_of(None) is None


def test_bands_follow_the_documented_thresholds():
    assert [b.name for b in BANDS] == ["green", "turning", "autumn"]
    assert [band_of(x) for x in (1.0, 0.9, 0.89, 0.6, 0.59, 0.0)] == [0, 0, 1, 1, 2, 2]


def test_an_image_and_label_map_of_different_sizes_is_refused():
    img, lab = fake_scene(1.0)
    with pytest.raises(BenchError, match="differ"):
        green_share(img, lab[:10])


def write_fake_ycor(root: Path, train: dict[str, float | None], valid: dict[str, float | None]
                    ) -> Path:
    for split, images in (("train", train), ("valid", valid)):
        (root / split).mkdir(parents=True)
        for name, fraction in images.items():
            img, lab = fake_scene(fraction)
            cv2.imwrite(str(root / split / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(str(root / split / f"{name}_labels.png"), lab)
    return root


@pytest.fixture
def fake_ycor(tmp_path: Path) -> Path:
    return write_fake_ycor(
        tmp_path / "ycor",
        train={"a_green": 1.0, "b_green": 0.95, "c_turn": 0.75, "d_turn": 0.7,
               "e_autumn": 0.1, "f_autumn": 0.3, "g_trail_only": None},
        valid={"v_green": 1.0, "v_turn": 0.8, "v_autumn": 0.0})


def test_the_stream_runs_green_then_turning_then_autumn(fake_ycor: Path):
    stream, share_of = ycor_stream(fake_ycor)
    assert stream.name == "ycor" and stream.classes == DEFAULT_CLASSES
    assert stream.step_names == ["green", "turning", "autumn"]
    names = [[p.stem for src in s.train for p in src.paths] for s in stream.steps]
    assert names == [["a_green", "b_green"], ["c_turn", "d_turn"], ["e_autumn", "f_autumn"]]
    tests = [[p.stem for src in s.test for p in src.paths] for s in stream.steps]
    assert tests == [["v_green"], ["v_turn"], ["v_autumn"]]
    assert stream.info["left_out"] == {"train": ["g_trail_only.jpg"], "test": []}
    assert stream.info["images"] == {"train": [2, 2, 2], "test": [1, 1, 1]}
    assert share_of[str(fake_ycor / "valid" / "v_turn.jpg")] == pytest.approx(0.8, abs=0.03)


def test_quick_keeps_a_subset_of_every_step(fake_ycor: Path):
    stream, _ = ycor_stream(fake_ycor, quick=True)
    assert [len(s.train[0].paths) for s in stream.steps] == [1, 1, 1]
    assert all(s.train[0].name.endswith("_quick") for s in stream.steps)


def test_a_step_without_test_images_is_a_clear_error(tmp_path: Path):
    root = write_fake_ycor(tmp_path / "y", train={"a": 1.0, "b": 0.7, "c": 0.1},
                           valid={"v": 1.0, "w": 0.1})
    with pytest.raises(BenchError, match="no test images in the 'turning' band"):
        ycor_stream(root)
    with pytest.raises(BenchError, match="missing"):
        ycor_stream(tmp_path / "nowhere")


def test_ycor_labels_are_mapped_to_garden_classes(fake_ycor: Path, tiny_card: Path,
                                                  tmp_path: Path):
    stream, _ = ycor_stream(fake_ycor)
    bb = Backbone(tiny_card, variant="fp32", threads=1)
    cells = FeatureCache(tmp_path / "cache", bb, stream.classes).cells(stream.steps[0].test[0])
    # 96 x 128 at 16-pixel cells: the sky row is dropped (an ignored class), the bottom row is
    # trail -> path, the vegetation rows are plant
    assert set(np.unique(cells.labels)) == {DEFAULT_CLASSES.index("path"),
                                            DEFAULT_CLASSES.index("plant")}


def test_sample_sheet_shows_each_step(fake_ycor: Path, tmp_path: Path):
    stream, share_of = ycor_stream(fake_ycor)
    png = sample_sheet(stream, share_of, tmp_path / "out" / "samples.png", per_step=2)
    img = cv2.imread(str(png))
    assert img.shape == (3 * 136, 2 * 256, 3)


def test_bench_cl_real_track_end_to_end(fake_ycor: Path, tiny_card: Path, tmp_path: Path):
    out = tmp_path / "report"
    assert cl.main(["--real", str(fake_ycor), "--card", str(tiny_card), "--out", str(out),
                    "--cache", str(tmp_path / "cache"), "--strategies", "ncm,slda",
                    "--jobs", "0", "--seeds", "1"]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["columns"] == ["green", "turning", "autumn"]
    assert r["acceptance"] == []  # the bars are for the synthetic stream
    assert r["best"]["strategy"] in ("ncm", "slda")
    assert (out / "samples.png").is_file()
    assert "samples.png" in (out / "report.md").read_text()


def test_the_real_track_and_the_backbone_probe_take_the_same_images(fake_ycor: Path):
    from tools.backbone.data import ycor_pairs
    from tools.bench.cl_real import image_pairs

    img, lab = fake_scene(1.0)
    cv2.imwrite(str(fake_ycor / "train" / "h_green.png"), img)  # any image type, not only jpg
    cv2.imwrite(str(fake_ycor / "train" / "h_green_labels.png"), lab)
    cv2.imwrite(str(fake_ycor / "train" / "i_unlabelled.jpg"), img)  # no label map: skipped
    pairs = image_pairs(fake_ycor / "train")
    assert "h_green.png" in [p.name for p in pairs]
    assert "i_unlabelled.jpg" not in [p.name for p in pairs]
    assert len(pairs) == len(list(ycor_pairs(fake_ycor / "train", (32, 24)))) == 8
