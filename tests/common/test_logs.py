from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from robot.common.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def emit(json_lines: bool, **extra) -> str:
    buf = io.StringIO()
    configure_logging("debug", json_lines=json_lines, stream=buf)
    logging.getLogger("robot.test").info("drive %s", "cruise", extra=extra)
    return buf.getvalue()


def test_json_lines_have_the_standard_fields_and_the_extras():
    line = emit(True, v_mps=np.float32(0.25), grid=np.array([15, 20]), path=Path("/x"),
                time="clash", ratio=float("nan"))
    assert line.count("\n") == 1
    obj = json.loads(line)
    assert obj["level"] == "info" and obj["logger"] == "robot.test"
    assert obj["message"] == "drive cruise"
    assert obj["time"].endswith("Z") and len(obj["time"]) == len("2025-06-01T12:00:00.123Z")
    assert obj["v_mps"] == 0.25 and obj["grid"] == [15, 20] and obj["path"] == "/x"
    assert obj["extra_time"] == "clash", "an extra never overwrites a standard field"
    assert obj["ratio"] == "nan", "still valid JSON"


def test_exceptions_are_one_line_of_json():
    buf = io.StringIO()
    configure_logging("info", json_lines=True, stream=buf)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("robot.test").exception("failed")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1
    assert "ValueError: boom" in json.loads(lines[0])["exception"]


def test_text_mode_and_a_log_file(tmp_path: Path):
    assert " INFO    robot.test: drive cruise" in emit(False)
    buf = io.StringIO()
    configure_logging("info", json_lines=True, file=tmp_path / "logs" / "g.log", stream=buf)
    configure_logging("info", json_lines=True, file=tmp_path / "logs" / "g.log", stream=buf)
    logging.getLogger("robot.test").warning("once")
    assert buf.getvalue().count("once") == 1, "configuring twice replaces, never duplicates"
    assert json.loads((tmp_path / "logs" / "g.log").read_text())["message"] == "once"
