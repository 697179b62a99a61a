"""A malformed model card is a ModelError that says what is wrong, never a raw traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models import MODELS_DIR
from robot.common.errors import ModelError
from robot.seeing.backbone import load_card


def shipped_card() -> dict[str, Any]:
    return json.loads((MODELS_DIR / "backbone.json").read_text())


def write(tmp_path: Path, card: dict[str, Any]) -> Path:
    path = tmp_path / "backbone.json"
    path.write_text(json.dumps(card))
    return path


def test_the_shipped_card_loads():
    card = load_card(MODELS_DIR / "backbone.json")
    assert card.stride > 0 and card.feature_dim > 0 and "fp32" in card.files


@pytest.mark.parametrize(("files", "match"), [
    ([], "'files' must map each variant"),
    (None, "'files' must map each variant"),
    ({"fp32": "backbone.onnx"}, "lacks or garbles a field"),
    ({"int8": {"path": "backbone.int8.onnx", "sha256": "0" * 64}}, "lists no fp32 file"),
])
def test_bad_files_field(tmp_path: Path, files: Any, match: str):
    card = shipped_card()
    card["files"] = files
    with pytest.raises(ModelError, match=match):
        load_card(write(tmp_path, card))


@pytest.mark.parametrize(("field", "value"), [
    ("stride", 0), ("stride", -16), ("feature_dim", 0), ("stride", "sixteen"),
])
def test_bad_output_geometry(tmp_path: Path, field: str, value: Any):
    card = shipped_card()
    card["output"][field] = value
    with pytest.raises(ModelError, match=r"backbone\.json: model card"):
        load_card(write(tmp_path, card))


def test_bad_input_size(tmp_path: Path):
    card = shipped_card()
    card["input"]["height"] = 0
    with pytest.raises(ModelError, match="input height and width must be positive"):
        load_card(write(tmp_path, card))
