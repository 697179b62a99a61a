"""`gardenbot doctor`: is this machine ready to run the robot? A checklist, exit 1 on a failure.

Checks: the config loads; the camera opens and gives a frame; the serial port exists and opens;
the backbone's model card and files match their sha256; the adapter perception will run (the
data folder's, or the shipped starting one) loads and fits that backbone; free disk where state
is written; the clock is plausible (a Pi without a real-time clock and network starts in 1970,
which breaks schedules, logs and recordings).

Each check is a function returning :class:`Check`, with the hardware reached through injectable
arguments, so every branch is tested without a camera or a board.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from robot.common.errors import GardenbotError
from robot.runtime.config import DEFAULT_PATH, Config, load_config

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_YEAR = 2024
DISK_WARN_BYTES = 1_000_000_000
DISK_FAIL_BYTES = 200_000_000


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


def check_config(path: str | os.PathLike[str] | None) -> tuple[Check, Config]:
    """The config file's validity; with no file at all, the defaults (a warning)."""
    if path is None:
        if not Path(DEFAULT_PATH).is_file():
            return (Check("config", WARN, f"no {DEFAULT_PATH} here; checking the defaults "
                          "(write one with `gardenbot config init`)"), Config())
        path = DEFAULT_PATH
    try:
        cfg = load_config(path)
    except GardenbotError as e:
        return Check("config", FAIL, str(e)), Config()
    return Check("config", OK, f"{path} is valid"), cfg


def check_clock(now: Callable[[], datetime] = datetime.now) -> Check:
    t = now()
    if t.year < MIN_YEAR:
        return Check("clock", FAIL, f"the clock says {t:%Y-%m-%d %H:%M}: set the time (no "
                     "real-time clock and no network?); schedules and recordings depend on it")
    return Check("clock", OK, f"{t:%Y-%m-%d %H:%M} local time")


def check_disk(cfg: Config, usage: Callable[[str], Any] = shutil.disk_usage) -> Check:
    target = cfg.resolve(cfg.paths.data_dir)
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the data folder may not exist yet: check the disk it will be on
    free = usage(str(probe)).free
    text = f"{free / 1e9:.1f} GB free for {target}"
    if free < DISK_FAIL_BYTES:
        return Check("disk", FAIL, f"{text}: the replay buffer, adapters and recordings need "
                     f"at least {DISK_FAIL_BYTES / 1e6:.0f} MB")
    if free < DISK_WARN_BYTES:
        return Check("disk", WARN, f"{text}: recordings will soon fill it")
    return Check("disk", OK, text)


def check_camera(cfg: Config, open_source: Callable[..., Any] | None = None,
                 timeout_s: float = 5.0) -> Check:
    """Open the configured source and wait up to ``timeout_s`` for one good frame."""
    from robot.seeing.camera import open_source as default_open

    opener = open_source or default_open
    c = cfg.camera
    try:
        src = opener(c.source, c.width, c.height, c.fps, c.reconnect_min_s, c.reconnect_max_s)
    except GardenbotError as e:
        return Check("camera", FAIL, str(e))
    # The camera logs an outage as "reopening it every 0.5 s … 10 s until it is back", which
    # is what the robot does, not this check: it gives up at timeout_s and says why itself.
    quiet = _Drop()
    camera_log = logging.getLogger("robot.seeing.camera")
    camera_log.addFilter(quiet)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            frame = src.read_frame()
            if frame is not None:
                h, w = frame.image.shape[:2]
                note = "" if (w, h) == (c.width, c.height) else (
                    f" (config says {c.width}x{c.height}; frames are resized, geometry scaled)")
                return Check("camera", OK, f"{src.name}: got a {w}x{h} frame{note}")
            if src.finished or time.monotonic() > deadline:
                why = getattr(src, "outage_reason", None)
                return Check("camera", FAIL, f"{src.name}: no frame within {timeout_s:g} s"
                             + (f" ({why})" if why else "")
                             + ": unplugged, in use by another program, or wrong index?")
            time.sleep(0.05)
    finally:
        camera_log.removeFilter(quiet)
        src.close()


class _Drop(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def check_serial(cfg: Config, opener: Callable[..., Any] | None = None) -> Check:
    port = cfg.serial.port
    if port == "emulator":
        return Check("serial", OK, "the desktop MCU emulator (nothing to check)")
    if port.startswith("/dev/") and not os.path.exists(port):
        return Check("serial", FAIL, f"{port} does not exist: is the board plugged in? "
                     "(see `ls /dev/ttyACM* /dev/ttyUSB*`)")
    if opener is None:
        import serial

        opener = serial.serial_for_url
    try:
        link = opener(port, baudrate=cfg.serial.baudrate, timeout=0.1)
    except PermissionError as e:
        return Check("serial", FAIL, f"{port}: permission denied ({e}); add this user to the "
                     "dialout group and log in again")
    except Exception as e:  # pyserial raises SerialException, ValueError, OSError, ...
        hint = " (permission? add this user to the dialout group)" if "ermission" in str(e) else ""
        return Check("serial", FAIL, f"{port}: cannot open: {e}{hint}")
    link.close()
    return Check("serial", OK, f"{port} opens at {cfg.serial.baudrate} baud")


def check_models(cfg: Config) -> list[Check]:
    """The card loads; the configured variant must match its sha256, other variants should."""
    from robot.seeing.backbone import load_card, verify

    try:
        card = load_card(cfg.resolve(cfg.perception.model_card) if cfg.perception.model_card
                         else None)
    except GardenbotError as e:
        return [Check("model card", FAIL, str(e))]
    out = [Check("model card", OK, f"{card.path}: {card.name}, input {card.input_hw[1]}x"
                 f"{card.input_hw[0]}, {card.feature_dim} features")]
    for variant in card.files:
        wanted = variant == cfg.perception.variant
        try:
            path = verify(card, variant)
        except GardenbotError as e:
            out.append(Check(f"backbone {variant}", FAIL if wanted else WARN, str(e)))
            continue
        out.append(Check(f"backbone {variant}", OK, f"{path.name} sha256 matches"
                         + (" (the configured variant)" if wanted else "")))
    if cfg.perception.variant not in card.files:
        out.append(Check(f"backbone {cfg.perception.variant}", FAIL,
                         f"the config asks for {cfg.perception.variant!r}; the card lists "
                         f"{', '.join(card.files)}"))
    return out


def check_adapter(cfg: Config) -> Check:
    """The adapter perception will run: the data folder's current version, or (on a fresh
    robot) the shipped starting adapter copied there on the first run — made for this backbone.
    """
    from robot.adapter.store import AdapterStore
    from robot.learning.paths import LearnerPaths
    from robot.runtime.settings import card_path, defaults_dir
    from robot.seeing.backbone import load_card

    try:
        card = load_card(card_path(cfg))
    except GardenbotError:
        return Check("adapter", WARN, "not checked: the backbone card does not load")
    data = LearnerPaths(cfg.resolve(cfg.paths.data_dir))
    seed = LearnerPaths(defaults_dir(cfg))
    where, source = (data.store, "data folder") if (data.store / "current.json").is_file() \
        else (seed.store, "starting adapter (copied into the data folder on the first run)")
    store = AdapterStore(where, backbone_sha256=card.backbone_id, feature_dim=card.feature_dim)
    try:
        adapter, meta = store.load()
    except GardenbotError as e:
        hint = "" if source == "data folder" else \
            " (make one with `gardenbot defaults --benchmark DIR`)"
        return Check("adapter", FAIL, f"{source}: {e}{hint}")
    return Check("adapter", OK, f"{where}: version {meta['version']} ({adapter.strategy}), "
                 f"{len(adapter.classes)} classes, {source}")


def run_checks(
    config_path: str | os.PathLike[str] | None, skip: frozenset[str] = frozenset(),
    camera_timeout_s: float = 5.0,
) -> list[Check]:
    checks: list[Check] = []
    first, cfg = check_config(config_path)
    checks.append(first)
    if "camera" not in skip:
        checks.append(check_camera(cfg, timeout_s=camera_timeout_s))
    if "serial" not in skip:
        checks.append(check_serial(cfg))
    if "models" not in skip:
        checks.extend(check_models(cfg))
        checks.append(check_adapter(cfg))
    if "disk" not in skip:
        checks.append(check_disk(cfg))
    if "clock" not in skip:
        checks.append(check_clock())
    return checks


MARKS = {OK: "[ ok ]", WARN: "[warn]", FAIL: "[FAIL]"}


def format_checklist(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{MARKS[c.status]} {c.name:<{width}}  {c.detail}" for c in checks]
    n_fail = sum(c.status == FAIL for c in checks)
    n_warn = sum(c.status == WARN for c in checks)
    verdict = ("ready" if not n_fail else f"{n_fail} check{'s' if n_fail > 1 else ''} failed")
    lines.append(f"\n{verdict}" + (f", {n_warn} warning{'s' if n_warn > 1 else ''}"
                                   if n_warn else ""))
    if any(c.name in ("camera", "serial") and c.status == FAIL for c in checks):
        lines.append(DESKTOP_HINT)
    return "\n".join(lines)


DESKTOP_HINT = """
No camera or board here (a desktop)? The robot runs without them:
  `gardenbot simulate` runs the whole robot on recorded gardens, with the MCU emulator;
  `gardenbot run --port emulator --camera VIDEO_OR_RECORDING` runs its loop on your footage."""


SKIPPABLE = ("camera", "serial", "models", "disk", "clock")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot doctor", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help=f"config file (default ./{DEFAULT_PATH} if present)")
    p.add_argument("--skip", action="append", default=[], choices=SKIPPABLE,
                   help="leave out one check (repeatable)")
    p.add_argument("--camera-timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait for a first frame (default 5)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    args = p.parse_args(argv)
    checks = run_checks(args.config, frozenset(args.skip), args.camera_timeout)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(format_checklist(checks))
    sys.stdout.flush()
    return 1 if any(c.status == FAIL for c in checks) else 0
