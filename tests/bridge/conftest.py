from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_bridge.board import build_firmware, missing_tools
from firmware_bridge.emulator import Emulator

from .helpers import CCore, PyCore, Session


@pytest.fixture(scope="session")
def host_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gb_tool and gb_host_firmware, built once per run with the host compiler."""
    reason = missing_tools("host")
    if reason:
        pytest.skip(f"C host build unavailable: {reason}")
    return build_firmware(tmp_path_factory.mktemp("firmware-host"), "host")


@pytest.fixture(scope="session")
def avr_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """firmware.elf (real HAL) and firmware-sim.elf (for QEMU), built once per run."""
    reason = missing_tools("avr")
    if reason:
        pytest.skip(f"AVR build unavailable: {reason}")
    return build_firmware(tmp_path_factory.mktemp("firmware-avr"), "avr")


@pytest.fixture(scope="session")
def gb_tool(host_build: Path) -> Path:
    return host_build / "gb_tool"


@pytest.fixture(params=["python", "c"])
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    """A booted MCU core, once the Python twin and once the C firmware core."""
    if request.param == "python":
        core: PyCore | CCore = PyCore()
    else:
        core = CCore(request.getfixturevalue("gb_tool"))
    s = Session(core)
    s.boot()
    yield s
    core.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu
