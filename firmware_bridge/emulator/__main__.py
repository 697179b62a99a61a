"""``python -m firmware_bridge.emulator [--link PATH] [-v]``: the emulated MCU as its own process.

Creates a pty, prints its path as one line on stdout, and runs until SIGTERM or SIGINT, or
until ``--orphan-exit-s`` (60) after the process that started it died: killing the *host*
process leaves it running long enough that its failsafe can be watched, but a host killed
without cleaning up does not leave it running for ever. The end of stdin does not stop it.
Control channel: one JSON object per line on stdin, one JSON reply per line on stdout::

    {"cmd": "feed", "bumper_left": true, "moisture_permille": [300, null, null, 800]}
    {"cmd": "pose", "x_m": 1.0, "y_m": 0.5, "theta_rad": 0.1}
    {"cmd": "state"}                    -> {"ok": true, "state": {...}}
    {"cmd": "telemetry"}                -> {"ok": true, "uptime_ms": N}: a Telemetry now
    {"cmd": "received", "clear": true}  -> {"ok": true, "received": [...]}
    {"cmd": "reset"}                    -> reboot the MCU
    {"cmd": "replug", "reset": true}    -> {"ok": true, "port": "/dev/pts/N"}

Every reply is ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; no input stops it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

from firmware_bridge.emulator.device import Emulator
from firmware_bridge.errors import BridgeError

log = logging.getLogger("firmware_bridge.emulator")


def handle(emu: Emulator, line: str) -> dict[str, Any]:
    """One control request → its reply. Never raises."""
    try:
        request = json.loads(line)
        if not isinstance(request, dict):
            raise ValueError("a request is a JSON object")
        cmd = request.pop("cmd", None)
        if cmd == "feed":
            emu.feed(**request)
            return {"ok": True}
        if cmd == "pose":
            emu.feed_pose(float(request["x_m"]), float(request["y_m"]),
                          float(request["theta_rad"]))
            return {"ok": True}
        if cmd == "state":
            return {"ok": True, "state": emu.state().to_dict()}
        if cmd == "telemetry":
            return {"ok": True, "uptime_ms": emu.send_telemetry_now()}
        if cmd == "received":
            items = emu.received(clear=bool(request.get("clear", False)))
            return {"ok": True, "received": [asdict(r) for r in items]}
        if cmd == "reset":
            emu.reset()
            return {"ok": True}
        if cmd == "replug":
            return {"ok": True, "port": emu.replug(reset=bool(request.get("reset", True)))}
        raise ValueError(f"unknown cmd {cmd!r}; one of feed, pose, state, telemetry, "
                         "received, reset, replug")
    except (BridgeError, ValueError, TypeError, KeyError) as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    except Exception as e:  # e.g. RecursionError on absurdly nested JSON: still an answer
        return {"ok": False, "error": f"bad request: {type(e).__name__}: {e}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_bridge.emulator",
                                     description="The gardenbot MCU emulator on a pty.")
    parser.add_argument("--link", help="also make this path a symlink to the pty")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    parser.add_argument("--orphan-exit-s", type=float, default=60.0, metavar="S",
                        help="exit this long after the starting process died (default 60; "
                             "0 = never)")
    args = parser.parse_args(argv)
    # Read before the pty path is printed: a host that reads that line and dies at once would
    # otherwise already be gone, and the emulator would take its new parent for its host.
    parent = os.getppid()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s emulator: %(message)s")
    stopped = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Emulator(link_path=args.link) as emu:
        print(emu.pty_path, flush=True)
        threading.Thread(target=_serve, args=(emu,), daemon=True, name="control").start()
        orphaned_at = None
        while not stopped.wait(0.5):
            if args.orphan_exit_s <= 0 or os.getppid() == parent:
                continue
            now = time.monotonic()
            orphaned_at = orphaned_at or now
            if now - orphaned_at >= args.orphan_exit_s:
                log.warning("the process that started the emulator is gone: exiting")
                break
    return 0


def _serve(emu: Emulator) -> None:
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(handle(emu, line)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
