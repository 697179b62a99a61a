"""The C protocol code (compiled for the host) against the same golden vectors, and the firmware's
constants header against the Python constants."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from firmware_bridge import gen_header

from .golden import GOLDEN


def run_tool(tool: Path, mode: str, lines: list[str]) -> list[str]:
    result = subprocess.run([str(tool), mode], input="".join(f"{line}\n" for line in lines),
                            capture_output=True, text=True, check=True, timeout=30)
    out = result.stdout.splitlines()
    assert len(out) == len(lines), result.stderr
    return out


def as_tool_fields(entry: dict) -> str:
    parts = [f"seq={entry['seq']}"]
    for name, value in entry["fields"].items():
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(int(value))
        parts.append(f"{name}={text}")
    return " ".join(parts)


def test_committed_header_matches_the_python_constants():
    assert gen_header.main(["--check"]) == 0, "run: python -m firmware_bridge.gen_header"


def test_header_check_notices_drift(tmp_path):
    stale = tmp_path / "gb_constants.h"
    stale.write_text(gen_header.render().replace("#define GB_HEARTBEAT_TIMEOUT_MS 300",
                                                 "#define GB_HEARTBEAT_TIMEOUT_MS 500"))
    assert gen_header.main(["--check", "--out", str(stale)]) == 1


def test_c_crc_check_value(gb_tool):
    assert run_tool(gb_tool, "crc", [GOLDEN["crc"]["check_input"]]) == [GOLDEN["crc"]["check"]]
    examples = GOLDEN["crc"]["examples"]
    assert run_tool(gb_tool, "crc", [e["data"] for e in examples]) == [e["crc"] for e in examples]


def test_c_cobs_golden(gb_tool):
    vectors = GOLDEN["cobs"]
    assert run_tool(gb_tool, "cobs-encode", [v["decoded"] for v in vectors]) == \
        [v["encoded"] for v in vectors]
    assert run_tool(gb_tool, "cobs-decode", [v["encoded"] for v in vectors]) == \
        [v["decoded"] for v in vectors]
    assert run_tool(gb_tool, "cobs-decode", ["", "050102", "0301"]) == ["err cobs"] * 3


def test_c_encodes_every_golden_message(gb_tool):
    entries = GOLDEN["messages"]
    lines = [f"{e['type']} {as_tool_fields(e)}" for e in entries]
    assert run_tool(gb_tool, "encode", lines) == [e["frame"] for e in entries]


def test_c_decodes_every_golden_message(gb_tool):
    entries = GOLDEN["messages"]
    expected = [f"ok {e['type']} {as_tool_fields(e)}" for e in entries]
    assert run_tool(gb_tool, "decode", [e["frame"] for e in entries]) == expected


def test_c_rejects_invalid_golden_frames_with_their_reason(gb_tool):
    entries = GOLDEN["invalid_frames"]
    assert run_tool(gb_tool, "decode", [e["frame"] for e in entries]) == \
        [f"err {e['error']}" for e in entries]


@pytest.mark.slow
def test_avr_firmware_builds_and_fits_the_atmega328p(avr_build):
    for elf in ("firmware.elf", "firmware-sim.elf"):
        out = subprocess.run(["avr-size", str(avr_build / elf)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1].split()
        text, data, bss = (int(v) for v in out[:3])
        assert text + data <= 32 * 1024 - 512, f"{elf}: flash (minus the Uno bootloader)"
        assert data + bss <= 2048 - 512, f"{elf}: RAM, leaving 512 bytes for the stack"
    assert (avr_build / "firmware.hex").stat().st_size > 0
