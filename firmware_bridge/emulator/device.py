"""The emulated MCU as a device: the core and the world on a real pseudo-terminal, in real time.

    with Emulator() as emu:                       # a pty and a thread; emu.port is its path
        with Link.open(emu.port) as link: ...
        emu.feed(bumper_left=True)                # ground truth from a simulation
        emu.state().motor_left_mmps               # what the MCU does now

Also runs as its own process: ``python -m firmware_bridge.emulator`` (see ``__main__``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import tty
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from firmware_bridge.constants import PUMP_CLOSED, PUMP_REFILL_DIVISOR, Board
from firmware_bridge.emulator.core import McuCore, SensorReading, WaterEvent
from firmware_bridge.emulator.world import World
from firmware_bridge.errors import BridgeError

log = logging.getLogger(__name__)

_IDLE_WAKE_MS = 20  # the loop wakes at least this often even with nothing due


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


@dataclass(frozen=True)
class ReceivedCommand:
    """A valid frame the emulator received: when (its uptime), its seq and what it said."""

    uptime_ms: int
    seq: int
    type: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class EmulatorState:
    """A snapshot of the emulated MCU (what a logic analyser on the board would show)."""

    port: str
    board: int
    uptime_ms: int
    estop_latched: bool
    estop_reasons: int
    motor_left_mmps: int
    motor_right_mmps: int
    drive_remaining_ms: int
    pump_zone: int  # PUMP_CLOSED when off
    pump_remaining_ms: int
    pump_budget_ms: int
    heartbeat_age_ms: int | None  # None while latched: the failsafe watches only unlatched
    failsafe_count: int
    failsafe_age_ms: int
    frames_rx: int
    frames_tx: int
    rx_errors: int
    tx_dropped_bytes: int
    commands: dict[str, int]
    waters: tuple[WaterEvent, ...]
    sensors: SensorReading

    @property
    def motors_on(self) -> bool:
        return self.motor_left_mmps != 0 or self.motor_right_mmps != 0

    @property
    def pump_on(self) -> bool:
        return self.pump_zone != PUMP_CLOSED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Emulator:
    """An emulated MCU on a pty, run by a background thread. ``close()`` is safe twice."""

    def __init__(self, *, link_path: str | os.PathLike[str] | None = None,
                 board: int = Board.EMULATOR) -> None:
        self.link_path = Path(link_path) if link_path is not None else None
        self.board = board
        self.world = World()
        self._lock = threading.Lock()
        self._core = McuCore(boot_ms=monotonic_ms(), board=int(board))
        self._master = -1
        self._slave = -1
        self._pty_path = ""
        self._tx_dropped = 0
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._closed:
            raise BridgeError("emulator is closed")
        if self._thread is None:
            self._open_pty()
            self._thread = threading.Thread(target=self._run, name="mcu-emulator", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> str:
        """The path a host opens: the symlink if one was asked for, else the pty itself."""
        return str(self.link_path) if self.link_path is not None else self._pty_path

    @property
    def pty_path(self) -> str:
        return self._pty_path

    # --- the simulation's hooks ----------------------------------------------------------

    def feed(self, **values: Any) -> None:
        """Feed ground truth (see :class:`~firmware_bridge.emulator.world.Feed` for the names).

        ``emu.feed(bumper_left=True, moisture_permille=[300, None, None, 800], battery_mv=None)``
        Raises :class:`FeedError` on an unknown name or bad value and then changes nothing.
        """
        with self._lock:
            self._step_world(monotonic_ms())
            self.world.apply(values)

    def feed_pose(self, x_m: float, y_m: float, theta_rad: float) -> None:
        """The robot's true pose now; from here on odometry follows poses, not motor commands."""
        self.feed(pose=(x_m, y_m, theta_rad))

    def state(self) -> EmulatorState:
        with self._lock:
            now = monotonic_ms()
            self._step_world(now)
            c = self._core
            c.advance(now)
            return EmulatorState(
                port=self.port, board=c.board, uptime_ms=now - c.boot_ms,
                estop_latched=c.estop_latched, estop_reasons=c.estop_reasons,
                motor_left_mmps=c.motor_left_mmps, motor_right_mmps=c.motor_right_mmps,
                drive_remaining_ms=max(0, c.drive_until_ms - now)
                if (c.motor_left_mmps or c.motor_right_mmps) else 0,
                pump_zone=c.pump_zone,
                pump_remaining_ms=max(0, c.pump_until_ms - now)
                if c.pump_zone != PUMP_CLOSED else 0,
                pump_budget_ms=c.pump_budget // PUMP_REFILL_DIVISOR,
                heartbeat_age_ms=None if c.estop_latched else now - c.last_hb_ms,
                failsafe_count=c.failsafe_count, failsafe_age_ms=c.failsafe_age_ms,
                frames_rx=c.frames_rx, frames_tx=c.frames_tx, rx_errors=c.rx_errors,
                tx_dropped_bytes=self._tx_dropped, commands=dict(c.commands),
                waters=tuple(c.waters), sensors=self.world.reading(),
            )

    def send_telemetry_now(self) -> int:
        """Send the next Telemetry at once instead of at its period: a simulation that has just
        fed a new truth need not wait up to a period for the report of it. The period then
        runs on from now. Returns the uptime (ms) the Telemetry will carry at least."""
        with self._lock:
            now = monotonic_ms()
            self._core.telemetry_due_ms = now
            uptime = now - self._core.boot_ms
        self._wake()
        return uptime

    def received(self, clear: bool = False) -> list[ReceivedCommand]:
        """The valid commands received since boot (or since the last ``clear``), oldest first."""
        with self._lock:
            items = [ReceivedCommand(r.at_ms - self._core.boot_ms, r.seq,
                                     type(r.message).__name__, r.message.as_dict())
                     for r in self._core.received]
            if clear:
                self._core.received.clear()
            return items

    def reset(self) -> None:
        """Reboot the MCU: a fresh core (latched, counters zero) that announces itself."""
        with self._lock:
            now = monotonic_ms()
            self._step_world(now)
            self._core = McuCore(boot_ms=now, board=int(self.board))
            self.world.reset_odometry()
            self._write(self._core.announce())

    def replug(self, reset: bool = True) -> str:
        """Pull and re-insert the USB cable: the old pty vanishes, a new one appears (the link
        path, if any, is re-pointed). With ``reset`` the MCU reboots, as an Uno does on open."""
        with self._lock:
            self._close_pty()
            self._open_pty()
        if reset:
            self.reset()
        self._wake()
        return self.port

    # --- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        with self._lock:
            self._write(self._core.announce())
        while not self._stop.is_set():
            with self._lock:
                now = monotonic_ms()
                timeout_ms = min(self._core.next_deadline_ms() - now, _IDLE_WAKE_MS)
                master = self._master
            try:
                ready, _, _ = select.select([master, self._wake_r], [], [],
                                            max(0, timeout_ms) / 1000)
            except (OSError, ValueError):
                ready = []  # the pty was swapped under us (replug); take the new one
                time.sleep(0.001)
            data = b""
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 64)
            with self._lock:
                if master in ready and master == self._master:
                    try:
                        data = os.read(master, 4096)
                    except OSError:
                        data = b""  # EIO while no client; nothing to read
                now = monotonic_ms()
                self._step_world(now)
                out = self._core.receive(data, now) if data else b""
                out += self._core.tick(now, self.world.reading())
                self._write(out)

    def _step_world(self, now: int) -> None:
        c = self._core
        self.world.step(now, c.motor_left_mmps, c.motor_right_mmps, c.pump_zone)

    def _write(self, data: bytes) -> None:
        if not data or self._master < 0:
            return
        try:
            written = os.write(self._master, data)
        except (BlockingIOError, OSError):
            written = 0  # nobody reads and the buffer is full: drop, like a UART would
        self._tx_dropped += len(data) - written

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: every byte passes as sent
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._pty_path = os.ttyname(slave)
        if self.link_path is not None:
            tmp = self.link_path.with_name(f".{self.link_path.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._pty_path)
            tmp.replace(self.link_path)
        log.info("emulated MCU on %s%s", self._pty_path,
                 f" (link {self.link_path})" if self.link_path else "")

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

