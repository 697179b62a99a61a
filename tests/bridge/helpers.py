"""Test helpers: two interchangeable ways to drive an MCU core (the Python twin in-process, the C
core through ``gb_tool core``), and small conveniences for reading what a core sent."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.constants import Board
from firmware_bridge.emulator.core import McuCore, SensorReading
from firmware_bridge.frame import FrameDecoder
from firmware_bridge.messages import Message, encode, parse

SENSORS = SensorReading(left_ticks=10, right_ticks=-5, current_left_ma=200, current_right_ma=210,
                        bumper_left=True, moisture_permille=(100, 200, 300, 400),
                        battery_mv=12_000)


class PyCore:
    """The Python core behind the same tiny interface as :class:`CCore`."""

    name = "python"

    def boot(self, now_ms: int, board: int = Board.HOST_SIM) -> bytes:
        self.core = McuCore(boot_ms=now_ms, board=board)
        self.sensors = SENSORS
        return self.core.announce()

    def set_sensors(self, s: SensorReading) -> bytes:
        self.sensors = s
        return b""

    def rx(self, now_ms: int, data: bytes) -> bytes:
        return self.core.receive(data, now_ms)

    def tick(self, now_ms: int) -> bytes:
        return self.core.tick(now_ms, self.sensors)

    def close(self) -> None:
        pass


class CCore:
    """The C core (firmware/src/gb_core.c), scripted through ``gb_tool core``."""

    name = "c"

    def __init__(self, tool: Path) -> None:
        self.proc = subprocess.Popen([str(tool), "core"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def _say(self, line: str) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        assert reply.startswith("out"), f"gb_tool core said {reply!r} to {line!r}"
        return bytes.fromhex(reply[4:])

    def boot(self, now_ms: int, board: int = Board.HOST_SIM) -> bytes:
        out = self._say(f"boot {int(board)} {now_ms}")
        self.set_sensors(SENSORS)
        return out

    def set_sensors(self, s: SensorReading) -> bytes:
        bumper = int(s.bumper_left) | int(s.bumper_right) << 1
        values = [s.left_ticks, s.right_ticks, s.current_left_ma, s.current_right_ma, bumper,
                  *s.moisture_permille, s.battery_mv, int(s.rx_overflow)]
        return self._say("sensors " + " ".join(str(v) for v in values))

    def rx(self, now_ms: int, data: bytes) -> bytes:
        return self._say(f"rx {now_ms} {data.hex()}")

    def tick(self, now_ms: int) -> bytes:
        return self._say(f"tick {now_ms}")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=5)


def messages(data: bytes) -> list[Message]:
    """Every message in ``data``; fails the test on any frame that does not decode."""
    found = []
    for item in FrameDecoder().feed(data):
        assert not isinstance(item, Exception), f"core sent a bad frame: {item}"
        found.append(parse(item))
    return found


@dataclass
class Session:
    """A core plus a host-side sequence counter: send commands, get back decoded answers."""

    core: PyCore | CCore
    now_ms: int = 1000
    seq: int = 0

    def boot(self) -> list[Message]:
        return messages(self.core.boot(self.now_ms))

    def send(self, message: Message, seq: int | None = None) -> list[Message]:
        if seq is None:
            self.seq += 1
            seq = self.seq
        return messages(self.core.rx(self.now_ms, encode(message, seq)))

    def raw(self, data: bytes) -> list[Message]:
        return messages(self.core.rx(self.now_ms, data))

    def at(self, now_ms: int) -> list[Message]:
        """Advance to ``now_ms`` (one tick) and return what was sent."""
        self.now_ms = now_ms
        return messages(self.core.tick(now_ms))

    def run_until(self, now_ms: int, step_ms: int = 1) -> list[Message]:
        """Tick every ``step_ms`` up to ``now_ms``; everything sent on the way."""
        out: list[Message] = []
        while self.now_ms < now_ms:
            out += self.at(min(self.now_ms + step_ms, now_ms))
        return out
