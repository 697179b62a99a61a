"""Log output for the gardenbot commands: readable text, or JSON lines for machines.

Library modules only ever call ``logging.getLogger(__name__)``; a command's ``main`` calls
:func:`configure_logging` once. In JSON-lines mode every record is one object on one line::

    {"time": "2025-06-01T12:00:00.123Z", "level": "warning", "logger": "robot.seeing.camera",
     "message": "camera 0: no frames ...", "v_mps": 0.3}

with the fields a caller passed through ``extra={...}`` added at the top level (a field named
like a standard one is prefixed with ``extra_``), and ``exception`` holding a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime",
                                                                          "taskName"}
_RESERVED = {"time", "level", "logger", "message", "exception", "stack"}
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601, ms), level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        t = datetime.fromtimestamp(record.created, timezone.utc)
        obj: dict[str, Any] = {
            "time": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            obj[f"extra_{key}" if key in _RESERVED else key] = _clean(value)
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            obj["stack"] = self.formatStack(record.stack_info)
        return json.dumps(obj, default=_jsonable, ensure_ascii=False, allow_nan=False)


def _jsonable(v: Any) -> Any:
    """What json cannot write itself: numpy values, paths, dataclasses, anything else as str."""
    if hasattr(v, "item") and callable(v.item) and getattr(v, "size", 2) == 1:
        v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        return v
    if hasattr(v, "tolist") and getattr(v, "size", 10**9) <= 64:
        return _clean(v.tolist())
    if isinstance(v, (Path, os.PathLike)):
        return os.fspath(v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dataclasses.asdict(v)
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    return str(v)


def _clean(v: Any) -> Any:
    """Non-finite floats as strings ("nan"), so every line stays valid JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


class _OurHandler:
    """Marker mixin: handlers installed by configure_logging, so a second call replaces them."""


class _Stream(_OurHandler, logging.StreamHandler):  # type: ignore[type-arg]
    pass


class _File(_OurHandler, logging.FileHandler):
    pass


def configure_logging(
    level: str | int = "info", json_lines: bool = False, file: str | os.PathLike[str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Send log records to ``stream`` (stderr) and optionally append them to ``file``.

    For a command's main(), never for library code. Calling it again replaces what an earlier
    call installed and leaves other handlers (pytest's, a user's) alone.
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _OurHandler):
            root.removeHandler(h)
            h.close()
    fmt: logging.Formatter = (JsonLinesFormatter() if json_lines
                              else logging.Formatter(TEXT_FORMAT, datefmt="%H:%M:%S"))
    handlers: list[logging.Handler] = [_Stream(stream if stream is not None else sys.stderr)]
    if file:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(_File(file, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(level.upper() if isinstance(level, str) else level)
