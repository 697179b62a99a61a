"""Frames for pretraining and probing: recordings, folders of images, and labelled YCOR pairs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from robot.common.classes import UNLABELLED
from robot.seeing.recording import Recording

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

# YCOR class ids → gardenbot classes (see shared/data/README.md): grass → lawn; smooth and rough
# trail → path; low and high vegetation → plant; obstacle and puddle → obstacle; void, sky → ignore.
YCOR_TO_GARDEN = np.full(256, UNLABELLED, np.uint8)
YCOR_TO_GARDEN[[1, 2, 3, 4, 5, 6, 7]] = [1, 0, 1, 4, 4, 3, 3]


def load_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: cannot be read as an image")
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def image_files(folder: Path) -> list[Path]:
    """Images in a folder (recursively), skipping YCOR-style `*_labels.png` label maps."""
    return sorted(p for p in Path(folder).rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_labels"))


def label_file(image: Path) -> Path:
    """Where a YCOR-style image's label map lies: ``NAME_labels.png`` next to it."""
    return image.with_name(image.stem + "_labels.png")


def labelled_images(split_dir: Path) -> list[Path]:
    """Images of a folder (as :func:`image_files`) that have a label map next to them."""
    return [p for p in image_files(split_dir) if label_file(p).is_file()]


def ycor_pairs(split_dir: Path, size: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(BGR image, gardenbot label map) pairs of a YCOR split, resized to ``size`` (w, h)."""
    for img_path in labelled_images(split_dir):
        lab_path = label_file(img_path)
        lab = cv2.imread(str(lab_path), cv2.IMREAD_UNCHANGED)
        if lab is None:
            raise ValueError(f"{lab_path}: cannot be read")
        lab = cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST)
        yield load_image(img_path, size), YCOR_TO_GARDEN[lab]


def recording_frames(
    paths: Iterable[Path], step: int, size: tuple[int, int], labelled_only: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray | None, str]]:
    """(frame, labels or None, season) from each recording, every ``step``-th frame."""
    for p in paths:
        rec = Recording(p)
        for f in rec.frames(step=step, labelled_only=labelled_only):
            img = f.image
            lab = f.labels
            if img.shape[1::-1] != size:
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                if lab is not None:
                    lab = cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST)
            yield img, lab, rec.meta.season or ""


def season_shift(bgr: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """A season-like colour change: hue toward yellow, desaturated, darker (the probe's stress).

    At strength 1: greens move ~25° toward yellow-brown, saturation × 0.55, brightness × 0.7.
    """
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.float32)
    h = hsv[..., 0]  # OpenCV hue: 0..180, yellow ≈ 30, green ≈ 60
    hsv[..., 0] = h + strength * 0.45 * (30.0 - h) * (h > 20) * (h < 100)
    hsv[..., 1] *= 1.0 - 0.45 * strength
    hsv[..., 2] *= 1.0 - 0.3 * strength
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)


def find_recordings(root: Path) -> list[Path]:
    """Recording folders at or below ``root`` (any folder holding a meta.json)."""
    root = Path(root)
    if (root / "meta.json").is_file():
        return [root]
    return sorted(p.parent for p in root.rglob("meta.json"))


def collect_frames(
    recordings: Iterable[Path] = (), image_dirs: Iterable[Path] = (), frame_step: int = 5,
    size: tuple[int, int] = (320, 240), max_frames: int | None = None, seed: int = 0,
) -> np.ndarray:
    """Unlabelled frames (N, H, W, 3) uint8 BGR from recordings and image folders.

    When there are more than ``max_frames``, an even random subset is kept.
    """
    frames: list[np.ndarray] = []
    rec_paths = [p for root in recordings for p in find_recordings(Path(root))]
    for img, _, _ in recording_frames(rec_paths, frame_step, size):
        frames.append(img)
    for folder in image_dirs:
        files = image_files(Path(folder))
        if not files:
            raise ValueError(f"{folder}: no images found")
        frames.extend(load_image(p, size) for p in files)
    if not frames:
        raise ValueError("no frames found in the given recordings and image folders")
    out = np.stack(frames)
    if max_frames is not None and len(out) > max_frames:
        keep = np.sort(np.random.default_rng(seed).choice(len(out), max_frames, replace=False))
        out = out[keep]
    log.info("collected %d frames from %d recordings and %d image folders", len(out),
             len(rec_paths), len(list(image_dirs)))
    return out


def train_recordings(root: Path) -> list[Path]:
    """The recordings to pretrain on below ``root``: a benchmark set's role=train recordings
    (never its held-out test gardens), or every recording of a plain folder."""
    if (Path(root) / "manifest.json").is_file():
        return [Path(root) / r["path"] for r in manifest_recordings(root) if r["role"] == "train"]
    return find_recordings(Path(root))


def manifest_recordings(root: Path) -> list[dict]:
    """Every recording entry of a benchmark set's manifest (written by `gardenbot synth
    --benchmark`), each with its step's name added; a BenchError if the manifest is bad."""
    from tools.garden.benchmark import load_manifest

    m = load_manifest(root)
    return [{**r, "step": step["name"]} for step in m["steps"] for r in step["recordings"]]
