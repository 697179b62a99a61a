"""Labelled folders of one's own photos, for probing a backbone on ground it was not made on.

The layout (that of ``../shared/data/lameski``)::

    FOLDER/
      meta.json          {"classes": {"0": "soil", "1": "plant"},
                          "to_gardenbot": {"soil": "soil", "plant": "plant"},
                          "steps": {"train": ["IMG_1", ...], "test": ["IMG_2", ...]}}
      images/<id>.jpg    any size; .jpg, .jpeg, .png or .bmp
      labels/<id>.png    same size, one channel: value = a key of "classes", 255 = unlabelled

``to_gardenbot`` maps each of the folder's class names to one of gardenbot's classes (lawn, path,
soil, plant, obstacle) or to null to ignore it; a label value not in ``classes`` is ignored too.
A linear probe is fitted on the ``train`` images and scored on the ``test`` images.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from robot.common.classes import DEFAULT_CLASSES, UNLABELLED
from tools.backbone.data import IMAGE_SUFFIXES, load_image

FORMAT_HELP = ("expected meta.json with 'classes' ({id: name}), 'to_gardenbot' ({name: gardenbot "
               "class or null}) and 'steps' ({'train': [ids], 'test': [ids]}), and images/<id>.jpg "
               "with labels/<id>.png")


class FolderError(ValueError):
    """A labelled folder that does not follow the layout; the message says what is wrong."""


@dataclass(frozen=True)
class LabelledFolder:
    root: Path
    lut: np.ndarray  # (256,) uint8: the folder's label value → gardenbot class id or 255
    splits: dict[str, list[str]]
    classes: tuple[str, ...]  # gardenbot classes that occur, for reports

    def image_path(self, image_id: str) -> Path:
        for suffix in IMAGE_SUFFIXES:
            p = self.root / "images" / f"{image_id}{suffix}"
            if p.is_file():
                return p
        raise FolderError(f"{self.root}: no image images/{image_id}.* for id {image_id!r}")

    def label_path(self, image_id: str) -> Path:
        p = self.root / "labels" / f"{image_id}.png"
        if not p.is_file():
            raise FolderError(f"{self.root}: no label map labels/{image_id}.png")
        return p

    def pairs(self, split: str, size: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(BGR image, gardenbot label map) of a split, resized to ``size`` (w, h)."""
        for image_id in self.splits[split]:
            img = load_image(self.image_path(image_id), size)
            lab = cv2.imread(str(self.label_path(image_id)), cv2.IMREAD_UNCHANGED)
            if lab is None or lab.ndim != 2 or lab.dtype != np.uint8:
                raise FolderError(f"{self.label_path(image_id)}: not a one-channel 8-bit PNG")
            lab = cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST)
            yield img, self.lut[lab]


def load_folder(root: Path, splits: tuple[str, ...] = ("train", "test")) -> LabelledFolder:
    """Read and check a labelled folder's meta.json before any image is touched."""
    root = Path(root)
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise FolderError(f"{root}: no meta.json ({FORMAT_HELP})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FolderError(f"{meta_path}: not valid JSON: {e}") from e
    if not isinstance(meta, dict) or not all(
            isinstance(meta.get(k), dict) for k in ("classes", "to_gardenbot", "steps")):
        raise FolderError(f"{meta_path}: {FORMAT_HELP}")
    lut = np.full(256, UNLABELLED, np.uint8)
    used: set[str] = set()
    for value, name in meta["classes"].items():
        try:
            v = int(value)
        except ValueError as e:
            raise FolderError(f"{meta_path}: class id {value!r} is not an integer") from e
        if not 0 <= v < 255:
            raise FolderError(f"{meta_path}: class id {v} is outside 0..254 (255 = unlabelled)")
        if name not in meta["to_gardenbot"]:
            raise FolderError(f"{meta_path}: class {name!r} has no entry in 'to_gardenbot' "
                              "(map it to a gardenbot class, or to null to ignore it)")
        target = meta["to_gardenbot"][name]
        if target is None:
            continue
        if target not in DEFAULT_CLASSES:
            raise FolderError(f"{meta_path}: {name!r} maps to {target!r}, not one of "
                              f"{', '.join(DEFAULT_CLASSES)}")
        lut[v] = DEFAULT_CLASSES.index(target)
        used.add(target)
    found: dict[str, list[str]] = {}
    for split in splits:
        ids = meta["steps"].get(split)
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise FolderError(f"{meta_path}: 'steps' needs a non-empty list of image ids for "
                              f"{split!r}")
        found[split] = ids
    overlap = set(found.get("train", [])) & set(found.get("test", []))
    if overlap:
        raise FolderError(f"{meta_path}: ids in both train and test: {sorted(overlap)[:5]}")
    folder = LabelledFolder(root, lut, found,
                            tuple(c for c in DEFAULT_CLASSES if c in used))
    for ids in found.values():  # every file there before minutes of feature extraction
        for i in ids:
            folder.image_path(i)
            folder.label_path(i)
    return folder
