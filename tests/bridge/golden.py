"""The golden vectors (firmware_bridge/golden_vectors.json) as Python objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import firmware_bridge
from firmware_bridge.constants import MsgType
from firmware_bridge.messages import MESSAGE_TYPES, Message

GOLDEN: dict[str, Any] = json.loads(
    (Path(firmware_bridge.__file__).parent / "golden_vectors.json").read_text())


def message_of(entry: dict[str, Any]) -> Message:
    cls = MESSAGE_TYPES[MsgType[entry["type"]]]
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["fields"].items()}
    return cls(**fields)


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e.get("name") or e.get("type", "?") for e in entries]
