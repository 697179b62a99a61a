"""The frozen backbone at run time: model card, integrity check, onnxruntime session.

The card (``models/backbone.json``) says what the ONNX files expect and produce and carries the
sha256 of each file. A file whose hash differs from its card is refused: a tampered or
half-copied model must never steer a robot. torch is never imported here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot.common.errors import ModelError

log = logging.getLogger(__name__)

CARD_FORMAT = "gardenbot-backbone"
CARD_VERSION = 1
VARIANTS = ("fp32", "int8")


def default_card_path() -> Path:
    from models import MODELS_DIR

    return MODELS_DIR / "backbone.json"


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class BackboneCard:
    path: Path
    name: str
    input_hw: tuple[int, int]  # (height, width) of the frames the graph takes
    stride: int
    feature_dim: int
    files: dict[str, tuple[Path, str]]  # variant -> (file, sha256)
    raw: dict[str, Any]

    @property
    def grid_hw(self) -> tuple[int, int]:
        return self.input_hw[0] // self.stride, self.input_hw[1] // self.stride

    @property
    def backbone_id(self) -> str:
        """Identity of the feature space: the fp32 file's sha256 (its int8 twin shares it)."""
        return self.files["fp32"][1]


def load_card(path: str | os.PathLike[str] | None = None) -> BackboneCard:
    path = Path(path) if path is not None else default_card_path()
    if not path.is_file():
        raise ModelError(f"{path}: backbone model card is missing (run `gardenbot backbone "
                         "export`, or reinstall gardenbot)")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: model card is not valid JSON: {e}") from e
    if not isinstance(d, dict) or d.get("format") != CARD_FORMAT:
        raise ModelError(f"{path}: not a gardenbot backbone card")
    if d.get("card_version") != CARD_VERSION:
        raise ModelError(f"{path}: card_version {d.get('card_version')!r} is not supported")
    if not isinstance(d.get("files"), dict):
        raise ModelError(f"{path}: model card field 'files' must map each variant to its file "
                         f"and sha256, got {type(d.get('files')).__name__}")
    try:
        inp, out = d["input"], d["output"]
        files = {
            variant: (path.parent / info["path"], str(info["sha256"]))
            for variant, info in d["files"].items()
        }
        card = BackboneCard(
            path=path, name=str(d.get("name", "backbone")),
            input_hw=(int(inp["height"]), int(inp["width"])), stride=int(out["stride"]),
            feature_dim=int(out["feature_dim"]), files=files, raw=d,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path}: model card lacks or garbles a field: {e!r}") from e
    if "fp32" not in files:
        raise ModelError(f"{path}: model card lists no fp32 file")
    # checked here, not where they are used: a zero stride would otherwise surface as a
    # ZeroDivisionError deep in the runtime
    if card.stride <= 0 or card.feature_dim <= 0:
        raise ModelError(f"{path}: model card output stride ({card.stride}) and feature_dim "
                         f"({card.feature_dim}) must be positive")
    if min(card.input_hw) <= 0:
        raise ModelError(f"{path}: model card input height and width must be positive, got "
                         f"{card.input_hw}")
    return card


def verify(card: BackboneCard, variant: str) -> Path:
    """The variant's file, after checking it exists and matches the card's sha256."""
    if variant not in card.files:
        raise ModelError(f"{card.path}: no {variant!r} model (has {', '.join(card.files)})")
    file, expected = card.files[variant]
    if not file.is_file():
        raise ModelError(f"{file}: model file is missing (listed in {card.path})")
    actual = sha256_file(file)
    if actual != expected:
        raise ModelError(
            f"{file}: sha256 {actual[:12]}… does not match its card {card.path.name} "
            f"({expected[:12]}…): the file was changed or damaged; refusing to load it"
        )
    return file


class Backbone:
    """Frames in, feature grids out. ``features(bgr)`` → (h, w, C) float32."""

    def __init__(
        self, card: BackboneCard | str | os.PathLike[str] | None = None, variant: str = "int8",
        threads: int = 2,
    ) -> None:
        import onnxruntime as ort

        self.card = card if isinstance(card, BackboneCard) else load_card(card)
        if variant not in VARIANTS:
            raise ModelError(f"backbone variant must be one of {VARIANTS}, not {variant!r}")
        self.variant = variant
        file = verify(self.card, variant)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(file), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors on a bad graph
            raise ModelError(f"{file}: onnxruntime cannot load it: {e}") from e
        self._input = self.session.get_inputs()[0].name
        log.info("backbone %s (%s) loaded: input %dx%d, grid %dx%d, %d features",
                 self.card.name, variant, self.card.input_hw[1], self.card.input_hw[0],
                 self.grid_hw[1], self.grid_hw[0], self.feature_dim)

    @property
    def grid_hw(self) -> tuple[int, int]:
        return self.card.grid_hw

    @property
    def feature_dim(self) -> int:
        return self.card.feature_dim

    @property
    def backbone_id(self) -> str:
        return self.card.backbone_id

    def prepare(self, bgr: np.ndarray) -> np.ndarray:
        """A camera frame resized to the backbone's input, as a (1, H, W, 3) uint8 batch."""
        import cv2

        if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 (H, W, 3) BGR, got {bgr.dtype} {bgr.shape}")
        h, w = self.card.input_hw
        if bgr.shape[:2] != (h, w):
            bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(bgr)[None]

    def features(self, bgr: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self._input: self.prepare(bgr)})[0]
        return np.ascontiguousarray(out[0].transpose(1, 2, 0))
