"""The real track: a domain-incremental stream from YCOR (Yamaha-CMU Off-Road) images.

YCOR's images come shuffled (their ids say nothing about site or date), so the steps are made
from what the images show: the colour of their vegetation. For each image, over the pixels its
label map calls vegetation (YCOR grass, low vegetation, high vegetation) that are chromatic
(HSV saturation and value >= 30 of 255), the **green share** is

    green share = #green / (#green + #warm),
    green: OpenCV hue 33..90 (yellow-green to green), warm: hue < 33 or > 160 (red, orange,
    yellow, brown foliage and leaf litter).

Images with fewer than 500 such pixels (no vegetation to judge) are left out. Steps, ordered as
the year goes (summer turning to autumn), with fixed thresholds chosen from the histogram of the
train split (a long green mode above 0.9, a thin tail down to 0):

    green    (share >= 0.9)      full summer foliage
    turning  (0.6 <= share < 0.9) first coloured leaves
    autumn   (share < 0.6)       coloured and bare foliage, leaf litter

The same thresholds split train/ (the steps' training images) and valid/ (their test images).
Labels follow the mapping in shared/data/README.md (``tools.backbone.data.YCOR_TO_GARDEN``):
grass -> lawn, trails -> path, vegetation -> plant, obstacle and puddle -> obstacle; no soil.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from tools.backbone.data import label_file, labelled_images
from tools.bench.cl_stream import BenchError, Source, Step, Stream

log = logging.getLogger(__name__)

VEGETATION_IDS = (2, 6, 7)  # YCOR: traversable grass, low vegetation, high vegetation
GREEN_HUE = (33, 90)  # OpenCV hue (0..180): yellow-green .. green
WARM_HUE_BELOW, WARM_HUE_ABOVE = 33, 160  # red, orange, yellow, brown
MIN_CHROMA = 30  # HSV saturation and value (0..255) a pixel needs to have a hue worth reading
MIN_PIXELS = 500  # chromatic vegetation pixels needed to judge an image


@dataclass(frozen=True)
class Band:
    name: str
    low: float  # share >= low
    high: float  # share < high


BANDS: tuple[Band, ...] = (
    Band("green", 0.9, float("inf")),
    Band("turning", 0.6, 0.9),
    Band("autumn", float("-inf"), 0.6),
)
QUICK_EVERY = 6  # --quick keeps every 6th image of each step


def green_share(bgr: np.ndarray, ycor_labels: np.ndarray) -> float | None:
    """Green share of the chromatic vegetation pixels, or None with too few of them."""
    if bgr.shape[:2] != ycor_labels.shape:
        raise BenchError(f"image {bgr.shape[:2]} and label map {ycor_labels.shape} differ")
    veg = np.isin(ycor_labels, VEGETATION_IDS)
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)[veg]
    hue = hsv[:, 0].astype(np.int32)
    chroma = (hsv[:, 1] >= MIN_CHROMA) & (hsv[:, 2] >= MIN_CHROMA)
    green = chroma & (hue >= GREEN_HUE[0]) & (hue <= GREEN_HUE[1])
    warm = chroma & ((hue < WARM_HUE_BELOW) | (hue > WARM_HUE_ABOVE))
    n = int(green.sum() + warm.sum())
    return None if n < MIN_PIXELS else float(green.sum()) / n


def band_of(share: float | None) -> int | None:
    if share is None:
        return None
    for i, b in enumerate(BANDS):
        if b.low <= share < b.high:
            return i
    return None


def image_pairs(split_dir: Path) -> list[Path]:
    """Images of a YCOR split that have a label map next to them (the same images, by the same
    rule, as the backbone's YCOR probe uses)."""
    if not split_dir.is_dir():
        raise BenchError(f"{split_dir}: missing (expected YCOR's train/ and valid/ folders)")
    return labelled_images(split_dir)


def shares(paths: Sequence[Path]) -> list[float | None]:
    out = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        lab = cv2.imread(str(label_file(p)), cv2.IMREAD_UNCHANGED)
        if img is None or lab is None or lab.ndim != 2:
            raise BenchError(f"{p}: image or its label map cannot be read")
        out.append(green_share(img, lab))
    return out


def split_by_band(paths: Sequence[Path], values: Sequence[float | None]
                  ) -> tuple[list[list[Path]], list[Path]]:
    """Paths per band (in BANDS order) and the ones left out (no vegetation to judge)."""
    groups: list[list[Path]] = [[] for _ in BANDS]
    left_out = []
    for p, v in zip(paths, values, strict=True):
        b = band_of(v)
        if b is None:
            left_out.append(p)
        else:
            groups[b].append(p)
    return groups, left_out


def ycor_stream(root: str | os.PathLike[str], quick: bool = False) -> tuple[Stream, dict]:
    """The real stream (green -> turning -> autumn) and the green share of every image used."""
    root = Path(root)
    train, valid = image_pairs(root / "train"), image_pairs(root / "valid")
    if not train or not valid:
        raise BenchError(f"{root}: no image/label pairs in train/ or valid/")
    share_of: dict[str, float | None] = {}
    groups = {}
    left_out = {}
    for role, paths in (("train", train), ("test", valid)):
        values = shares(paths)
        share_of.update({str(p): v for p, v in zip(paths, values, strict=True)})
        groups[role], left_out[role] = split_by_band(paths, values)
    steps = []
    for i, band in enumerate(BANDS):
        parts = {}
        for role in ("train", "test"):
            paths = groups[role][i][::QUICK_EVERY] if quick else groups[role][i]
            if not paths:
                raise BenchError(f"{root}: no {role} images in the {band.name!r} band")
            parts[role] = (Source(f"ycor_{band.name}_{role}{'_quick' if quick else ''}", "ycor",
                                  tuple(paths)),)
        steps.append(Step(i, band.name, band.name, parts["train"], parts["test"]))
    info = {
        "root": str(root.resolve()), "quick": quick,
        "bands": [{"name": b.name, "low": b.low, "high": b.high} for b in BANDS],
        "images": {role: [len(g) for g in groups[role]] for role in groups},
        "left_out": {role: [p.name for p in v] for role, v in left_out.items()},
        "statistic": "green share of chromatic vegetation pixels (see tools/bench/cl_real.py)",
    }
    stream = Stream("ycor", tuple(steps), DEFAULT_CLASSES, info)
    used = {str(p): share_of[str(p)] for s in steps for src in (*s.train, *s.test)
            for p in src.paths}
    return stream, used


def sample_sheet(stream: Stream, share_of: dict[str, float | None], out_png: Path,
                 per_step: int = 6, seed: int = 0) -> Path:
    """A PNG with ``per_step`` random training images of each step, labelled with their share.

    Written only into the run's output folder (the images must not be committed)."""
    rng = np.random.default_rng(seed)
    w, h = 256, 136
    rows = []
    for step in stream.steps:
        paths = [p for src in step.train for p in src.paths]
        pick = sorted(rng.choice(len(paths), min(per_step, len(paths)), replace=False))
        tiles = []
        for i in pick:
            img = cv2.resize(cv2.imread(str(paths[i]), cv2.IMREAD_COLOR), (w, h),
                             interpolation=cv2.INTER_AREA)
            share = share_of.get(str(paths[i]))
            _label(img, f"{step.name}  {share:.2f}" if share is not None else step.name)
            tiles.append(img)
        while len(tiles) < per_step:
            tiles.append(np.zeros((h, w, 3), np.uint8))
        rows.append(np.hstack(tiles))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), np.vstack(rows)):
        raise BenchError(f"{out_png}: cannot be written")
    return out_png


def _label(img: np.ndarray, text: str) -> None:
    cv2.rectangle(img, (0, 0), (8 + 10 * len(text), 24), (0, 0, 0), -1)
    cv2.putText(img, text, (5, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
