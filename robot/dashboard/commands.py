"""Owner commands from the web page and MQTT, the bounded queue that carries them to the loop,
and the rules a manual watering must pass.

A command is put on the :class:`CommandQueue` from any thread and answered through a
``concurrent.futures.Future`` once the loop has carried it out (or refused it). The queue is
bounded: a flood of commands is refused at the door (:class:`QueueFull`), never buffered, and
the loop takes at most a few per tick.
"""

from __future__ import annotations

import queue
import re
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from robot.acting.config import WateringConfig, Zone
from robot.acting.policy import WaterCommand, clamp_water, in_quiet_hours
from robot.common.errors import ConfigError, GardenbotError

KINDS = ("retrain", "stop", "resume", "water", "rollback", "watering")


class CommandRefused(GardenbotError, ValueError):
    """A well-formed command the robot will not carry out now (quiet hours, a retrain already
    running, an unknown zone …). The message says why."""


class QueueFull(GardenbotError, RuntimeError):
    """Too many commands waiting for the loop; try again in a moment."""


@dataclass(frozen=True)
class OwnerCommand:
    kind: str  # one of KINDS
    args: dict[str, Any] = field(default_factory=dict)
    origin: str = "web"  # web, mqtt

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CommandRefused(f"unknown command {self.kind!r} (one of {', '.join(KINDS)})")


@dataclass
class Pending:
    command: OwnerCommand
    result: Future[str]


class CommandQueue:
    """Commands waiting for the loop: at most ``capacity``; ``put`` never blocks."""

    def __init__(self, capacity: int = 32) -> None:
        self._q: queue.Queue[Pending] = queue.Queue(maxsize=capacity)
        self.refused_full = 0

    def put(self, command: OwnerCommand) -> Future[str]:
        result: Future[str] = Future()
        try:
            self._q.put_nowait(Pending(command, result))
        except queue.Full:
            self.refused_full += 1
            raise QueueFull("the robot has too many commands waiting; try again") from None
        return result

    def take(self, limit: int) -> list[Pending]:
        out: list[Pending] = []
        while len(out) < limit:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                break
        return out

    def __len__(self) -> int:
        return self._q.qsize()


def manual_water(zone_id: int, duration_ms: int | None, zones: Sequence[Zone], now: datetime,
                 cfg: WateringConfig) -> WaterCommand:
    """The owner's "water now" as the command the link may send, or :class:`CommandRefused`.

    The owner decides that the bed is dry and where the robot is; the rules that protect
    the garden and the neighbours still hold: a configured zone, not in quiet hours, and the
    policy's clamp on the pump's on-time (the firmware caps it once more).
    """
    ids = [z.id for z in zones]
    if zone_id not in ids:
        raise CommandRefused(f"zone {zone_id} is not a watering zone of this robot "
                             f"(zones: {', '.join(map(str, ids)) or 'none configured'})")
    if in_quiet_hours(now.time(), cfg.quiet_hours):
        raise CommandRefused(f"quiet hours ({cfg.quiet_hours}): the pump stays off")
    ms = cfg.duration_ms if duration_ms is None else int(duration_ms)
    if ms <= 0:
        raise CommandRefused(f"duration must be > 0 ms, got {ms}")
    return clamp_water(WaterCommand(zone_id, ms, "owner: water now"), cfg.max_duration_ms)


# --- editing the [watering] settings in the config file ---------------------------------------

EDITABLE_WATERING = ("interval_h", "quiet_hours", "duration_ms")


def edit_watering(text: str, changes: dict[str, Any]) -> str:
    """``text`` (a gardenbot.toml) with ``changes`` to [watering] keys written in, comments and
    every other line kept. Only the keys in EDITABLE_WATERING may change."""
    from robot.runtime.config import toml_value

    bad = [k for k in changes if k not in EDITABLE_WATERING]
    if bad:
        raise ConfigError(f"[watering] {', '.join(bad)}: not editable from the dashboard "
                          f"(editable: {', '.join(EDITABLE_WATERING)})")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    header = re.compile(r"^\s*\[\s*watering\s*\]\s*(#.*)?$")
    start = next((i for i, ln in enumerate(lines) if header.match(ln)), None)
    if start is None:
        lines += ["\n[watering]\n"]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
               len(lines))
    for key, value in changes.items():
        line = f"{key} = {toml_value(value)}\n"
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        at = next((i for i in range(start + 1, end) if pattern.match(lines[i])), None)
        if at is None:
            lines.insert(start + 1, line)
            end += 1
        else:
            lines[at] = line
    return "".join(lines)


def watering_changes(form: dict[str, Any]) -> dict[str, Any]:
    """The settings form (strings or numbers) as typed [watering] values; the config's own
    validation checks the ranges."""
    out: dict[str, Any] = {}
    try:
        if "interval_h" in form:
            out["interval_h"] = float(form["interval_h"])
        if "duration_ms" in form:
            out["duration_ms"] = int(form["duration_ms"])
    except (TypeError, ValueError) as e:
        raise ConfigError(f"[watering] not a number: {e}") from None
    if "quiet_hours" in form:
        out["quiet_hours"] = str(form["quiet_hours"]).strip()
    return out


def apply_watering(cfg: WateringConfig, changes: dict[str, Any]) -> WateringConfig:
    return replace(cfg, **changes)
