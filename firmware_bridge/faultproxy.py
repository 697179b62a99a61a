"""A fault-injecting proxy between a host and an MCU pty: drops, flips, duplicates and delays bytes.

    with FaultProxy(mcu_port, to_mcu=Faults(drop=0.01, flip=0.005), seed=1) as proxy:
        link = Link.open(proxy.port)       # the host talks to the proxy's own pty
        proxy.silence(True)                # host → MCU goes dark: the MCU's failsafe must fire

Also ``python -m firmware_bridge.faultproxy TARGET [--drop P] [--flip P] ...``: prints the host
side's pty path (one line) and runs until SIGTERM/SIGINT. Faults are drawn from a seeded RNG, so a
failing run can be repeated.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import select
import signal
import sys
import termios
import threading
import time
import tty
from collections import Counter, deque
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Faults:
    """Per-byte fault probabilities and a per-chunk delay for one direction."""

    drop: float = 0.0
    flip: float = 0.0  # flip one random bit of the byte
    duplicate: float = 0.0
    delay_ms: tuple[int, int] = (0, 0)  # each chunk waits uniform(lo, hi); order is kept

    def __post_init__(self) -> None:
        for name in ("drop", "flip", "duplicate"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"Faults.{name}={p} is not a probability")
        lo, hi = self.delay_ms
        if not 0 <= lo <= hi:
            raise ValueError(f"Faults.delay_ms={self.delay_ms} must be 0 <= lo <= hi")


def corrupt(data: bytes, faults: Faults, rng: random.Random, counts: Counter[str]) -> bytes:
    """``data`` after ``faults`` (pure apart from the RNG and the counters)."""
    if not (faults.drop or faults.flip or faults.duplicate):
        return data
    out = bytearray()
    for byte in data:
        if faults.drop and rng.random() < faults.drop:
            counts["dropped"] += 1
            continue
        if faults.flip and rng.random() < faults.flip:
            byte ^= 1 << rng.randrange(8)
            counts["flipped"] += 1
        out.append(byte)
        if faults.duplicate and rng.random() < faults.duplicate:
            out.append(byte)
            counts["duplicated"] += 1
    return bytes(out)


class FaultProxy:
    """Forwards bytes between ``target`` (the MCU's pty) and a new pty for the host."""

    def __init__(self, target: str, *, to_mcu: Faults | None = None,
                 to_host: Faults | None = None, seed: int = 0) -> None:
        self.target = target
        self.to_mcu = to_mcu or Faults()
        self.to_host = to_host or Faults()
        self._rng = random.Random(seed)
        self.counts = {"to_mcu": Counter[str](), "to_host": Counter[str]()}
        self._silent = False
        self._queues: dict[str, deque[tuple[float, bytes]]] = {"to_mcu": deque(),
                                                               "to_host": deque()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._target_fd = self._master = self._slave = -1
        self.port = ""

    def start(self) -> FaultProxy:
        if self._thread is not None:
            return self
        self._target_fd = os.open(self.target, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        with contextlib.suppress(termios.error):
            tty.setraw(self._target_fd)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._run, daemon=True, name="fault-proxy")
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in (self._target_fd, self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._target_fd = self._master = self._slave = -1

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def silence(self, on: bool) -> None:
        """While on, every byte from the host is dropped: to the MCU, the host has gone quiet."""
        self._silent = on

    def set_faults(self, *, to_mcu: Faults | None = None, to_host: Faults | None = None) -> None:
        if to_mcu is not None:
            self.to_mcu = to_mcu
        if to_host is not None:
            self.to_host = to_host

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            due = [q[0][0] for q in self._queues.values() if q]
            timeout = max(0.0, min(due) - now) if due else 0.05
            try:
                ready, _, _ = select.select([self._target_fd, self._master], [], [],
                                            min(timeout, 0.05))
            except (OSError, ValueError):
                return
            for fd, direction in ((self._master, "to_mcu"), (self._target_fd, "to_host")):
                if fd in ready:
                    try:
                        data = os.read(fd, 4096)
                    except OSError:
                        data = b""
                    if data:
                        self._accept(direction, data)
                    else:
                        time.sleep(0.01)  # EIO: the other side is gone; do not spin
            self._flush()

    def _accept(self, direction: str, data: bytes) -> None:
        counts = self.counts[direction]
        counts["bytes_in"] += len(data)
        if direction == "to_mcu" and self._silent:
            counts["silenced"] += len(data)
            return
        faults = self.to_mcu if direction == "to_mcu" else self.to_host
        data = corrupt(data, faults, self._rng, counts)
        lo, hi = faults.delay_ms
        queue = self._queues[direction]
        release = time.monotonic() + (self._rng.uniform(lo, hi) / 1000 if hi else 0.0)
        if queue:
            release = max(release, queue[-1][0])  # delays never reorder bytes
        queue.append((release, data))

    def _flush(self) -> None:
        now = time.monotonic()
        for direction, fd in (("to_mcu", self._target_fd), ("to_host", self._master)):
            queue = self._queues[direction]
            while queue and queue[0][0] <= now:
                release, data = queue.popleft()
                try:
                    written = os.write(fd, data)
                except BlockingIOError:
                    written = 0  # the pty is full for now: try again on the next turn
                except OSError:
                    self.counts[direction]["write_failed"] += len(data)
                    continue
                self.counts[direction]["bytes_out"] += written
                if written < len(data):  # the rest goes next, so no byte is lost unplanned
                    queue.appendleft((release, data[written:]))
                    break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_bridge.faultproxy",
                                     description="Fault-injecting proxy between two ptys.")
    parser.add_argument("target", help="the MCU's pty (emulator, firmware, QEMU)")
    for name in ("drop", "flip", "duplicate"):
        parser.add_argument(f"--{name}", type=float, default=0.0,
                            help=f"per-byte {name} probability, both directions")
    parser.add_argument("--delay-ms", type=int, nargs=2, default=(0, 0), metavar=("LO", "HI"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        faults = Faults(args.drop, args.flip, args.duplicate, tuple(args.delay_ms))
    except ValueError as e:
        parser.error(str(e))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    try:
        proxy = FaultProxy(args.target, to_mcu=faults, to_host=faults, seed=args.seed).start()
    except OSError as e:
        print(f"faultproxy: cannot open {args.target}: {e}", file=sys.stderr)
        return 1
    print(proxy.port, flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
