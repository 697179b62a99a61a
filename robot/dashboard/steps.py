"""The dashboard's two loop steps: owner commands in, a snapshot out.

- :class:`OwnerCommandStep` goes between the policy and the actuation step. Each tick it takes
  at most ``per_tick`` commands from the queue and carries them out through the robot's own
  paths: a retrain is the learner step's trigger (``request("owner")``); a stop sends the MCU a
  Stop (motors off, pump closed) ahead of any queued command and, until resume, replaces every
  drive command with a stop and drops every watering; "water now" passes the watering rules
  and clamp (commands.manual_water) and goes out as the tick's water command, so the link and
  the firmware cap it like the policy's own; a rollback moves the adapter store's pointer on a
  worker thread (file I/O stays out of the loop) and perception hot-swaps as after a publish.
- :class:`SnapshotStep` goes last: it publishes a :class:`Snapshot` of the tick.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from robot.acting.policy import stop
from robot.common.errors import GardenbotError
from robot.dashboard.commands import (
    CommandQueue,
    CommandRefused,
    Pending,
    apply_watering,
    manual_water,
)
from robot.dashboard.snapshot import Snapshot, SnapshotHolder, ZoneView
from robot.learning.questions import QuestionBoard
from robot.runtime.control import ActuationStep, PolicyStep, RobotLink, RobotState
from robot.runtime.learning import Describe, LearnerStep, Memory
from robot.runtime.loop import Tick
from robot.runtime.output import RateMeter

log = logging.getLogger(__name__)

STOP_OWNER = "stop_owner"
BUFFER_REFRESH_S = 2.0  # the replay buffer's make-up is counted this often (a bincount)


@dataclass
class RobotHandles:
    """What the dashboard's steps act on and report: parts the loop already has."""

    learner: LearnerStep
    memory: Memory
    actuation: ActuationStep
    policy: PolicyStep
    state: RobotState
    link: RobotLink
    store: Any  # robot.adapter.store.AdapterStore of perception's runner
    local_time: Callable[[float], datetime]  # loop time → local time (simulated when replaying)
    season: Callable[[Tick], str]
    describe: Describe | None = None  # season and recording of a tick's cells (questions)
    min_confidence: float = 0.6  # the policy's: below it a cell is "unsure"
    board: QuestionBoard | None = None


class OwnerCommandStep:
    name = "owner commands"

    def __init__(self, commands: CommandQueue, robot: RobotHandles, per_tick: int = 4) -> None:
        self.commands = commands
        self.robot = robot
        self.per_tick = per_tick
        self.stopped = False
        self.done: list[tuple[str, str]] = []  # (kind, result), the last few, for the page
        self._slow: queue.Queue[Pending | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="owner-commands", daemon=True)
        self._worker.start()

    def run(self, tick: Tick) -> None:
        t = tick.frame.t if tick.frame is not None else tick.wall_s
        for pending in self.commands.take(self.per_tick):
            if pending.result.done():  # the requester gave up (a closed page): nothing to do
                continue
            try:
                self._carry_out(pending, tick, t)
            except (CommandRefused, GardenbotError) as e:
                self._answer(pending, error=e)
        if self.stopped:
            ttl = self.robot.policy.policy.command_ttl_ms
            tick.drive = stop(STOP_OWNER, ttl, "stopped by the owner; resume to drive")
            tick.water = None

    def _carry_out(self, pending: Pending, tick: Tick, t: float) -> None:
        cmd = pending.command
        r = self.robot
        if cmd.kind == "stop":
            self.stopped = True
            r.actuation.stop_now()
            log.warning("stopped by the owner (%s)", cmd.origin)
            self._answer(pending, "stopped")
        elif cmd.kind == "resume":
            was = self.stopped
            self.stopped = False
            log.warning("resumed by the owner (%s)", cmd.origin)
            self._answer(pending, "resumed" if was else "was not stopped")
        elif cmd.kind == "retrain":
            if r.learner.running:
                raise CommandRefused("a retrain is already running")
            r.learner.request("owner")
            self._answer(pending, "retrain started")
        elif cmd.kind == "water":
            if self.stopped:
                raise CommandRefused("the robot is stopped; resume it first")
            water = manual_water(int(cmd.args["zone"]), cmd.args.get("duration_ms"),
                                 r.policy.zones, r.local_time(t), r.policy.watering)
            tick.water = water
            self._answer(pending, f"watering zone {water.zone} for {water.duration_ms} ms")
        elif cmd.kind == "watering":
            r.policy.watering = apply_watering(r.policy.watering, cmd.args["changes"])
            self._answer(pending, "watering settings applied")
        elif cmd.kind == "rollback":
            if r.learner.running:
                raise CommandRefused("a retrain is running; roll back when it has finished")
            self._slow.put(pending)

    def _work(self) -> None:
        while True:
            pending = self._slow.get()
            if pending is None:
                return
            version = int(pending.command.args["version"])
            try:
                self.robot.store.rollback(version)
            except GardenbotError as e:
                self._answer(pending, error=e)
                continue
            log.warning("adapter rolled back to v%d by the owner (%s)", version,
                        pending.command.origin)
            self._answer(pending, f"current adapter is now v{version}")

    def _answer(self, pending: Pending, text: str = "", error: Exception | None = None) -> None:
        self.done = [*self.done[-9:], (pending.command.kind, text or f"refused: {error}")]
        if pending.result.done():
            return
        if error is not None:
            pending.result.set_exception(error)
        else:
            pending.result.set_result(text)

    def shutdown(self) -> None:
        self._slow.put(None)
        self._worker.join(timeout=5)
        for pending in self.commands.take(1_000_000):
            self._answer(pending, error=CommandRefused("the robot is shutting down"))


class SnapshotStep:
    """Publishes the tick into ``holder``: references and a few numbers, never a copy of the
    frame; the buffer's make-up is recounted every BUFFER_REFRESH_S."""

    name = "snapshot"

    def __init__(self, holder: SnapshotHolder, robot: RobotHandles,
                 owner: OwnerCommandStep | None = None,
                 on_shutdown: Callable[[], None] | None = None) -> None:
        self.holder = holder
        self.on_shutdown = on_shutdown
        self.robot = robot
        self.owner = owner
        self.meter = RateMeter()
        self._buffer: dict[str, Any] = {}
        self._next_buffer = 0.0
        self._version = "-"
        self._accuracy: deque[float] = deque(maxlen=10)  # the last labelled frames
        self._judged: tuple[int, Any, str] | None = None

    def run(self, tick: Tick) -> None:
        now = time.monotonic()
        fps = self.meter.tick(now)
        r = self.robot
        if now >= self._next_buffer:
            self._next_buffer = now + BUFFER_REFRESH_S
            self._buffer = buffer_makeup(r.memory)
        cells = tick.cells
        if cells is not None:
            self._version = cells.adapter_version
        if tick.accuracy is not None:
            self._accuracy.append(tick.accuracy)
        if tick.truth is not None and tick.drive is not None:
            self._judged = (tick.index, tick.truth, tick.drive.reason)
        drive = tick.drive
        telemetry = r.state.telemetry
        t = tick.frame.t if tick.frame is not None else tick.wall_s
        zones = tuple(
            ZoneView(z.id, z.x_m, z.y_m, z.radius_m, r.state.moisture.get(z.id),
                     _iso(r.state.last_watered.get(z.id)))
            for z in r.policy.zones)
        w = r.policy.watering
        self.holder.publish(Snapshot(
            tick=tick.index, wall_s=time.time(),
            image=tick.frame.image if tick.frame is not None else None, cells=cells,
            truth=tick.truth,
            accuracy=sum(self._accuracy) / len(self._accuracy) if self._accuracy else None,
            season=r.season(tick),
            adapter_version=self._version, fps=fps,
            drive_reason=drive.reason if drive is not None else "",
            drive_detail=drive.detail if drive is not None else "",
            v_mps=drive.v_mps if drive is not None else 0.0,
            omega_radps=drive.omega_radps if drive is not None else 0.0,
            owner_stopped=self.owner.stopped if self.owner is not None else False,
            link=link_state(r.link, telemetry),
            battery_v=telemetry.battery_mv / 1000 if telemetry is not None else None,
            zones=zones,
            watering={"interval_h": w.interval_h, "quiet_hours": w.quiet_hours,
                      "duration_ms": w.duration_ms, "max_duration_ms": w.max_duration_ms,
                      "local_time": r.local_time(t).strftime("%Y-%m-%d %H:%M")},
            learner=learner_state(r.learner),
            buffer=self._buffer,
            questions_open=len(r.board) if r.board is not None else 0,
            class_names=cells.class_names if cells is not None else (),
            judged=self._judged,
            extra={"commands": list(self.owner.done) if self.owner is not None else []},
        ))

    def shutdown(self) -> None:
        if self.on_shutdown is not None:  # the web server and MQTT go with the loop
            self.on_shutdown()


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at is not None else None


def link_state(link: RobotLink, telemetry: Any) -> dict[str, Any]:
    c = link.counters
    return {"connected": bool(link.link.connected), "drives_sent": c.drives_sent,
            "drives_acked": c.drives_acked, "waters_acked": c.waters_acked,
            "failures": sum(c.failures.values()),
            "estop_latched": bool(telemetry.estop_latched) if telemetry is not None else None,
            "failsafe_count": link.failsafe_count}


def learner_state(learner: LearnerStep) -> dict[str, Any]:
    out: dict[str, Any] = {"state": learner.state, "running": learner.running}
    if learner.retrains:
        last = learner.retrains[-1]
        st = last.status
        out.update(reason=last.reason, stage=st.stage if st else "",
                   progress=round(st.progress, 3) if st else 0.0,
                   message=st.message if st else "",
                   version=(st.result or {}).get("version") if st else None)
    return out


def buffer_makeup(memory: Memory) -> dict[str, Any]:
    buf = memory.buffer
    return {"cells": len(buf), "max_cells": buf.max_cells, "new_cells": memory.new_cells,
            "classes": buf.class_counts(), "seasons": buf.season_counts(),
            "offered": dict(memory.offered), "accepted": dict(memory.accepted)}
