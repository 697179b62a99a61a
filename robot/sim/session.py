"""One simulation session: the whole robot in a simulated garden or on recordings, on this computer.

:func:`simulate` runs the robot's own loop either closed loop in a garden handed in as
``SimulationOptions.garden`` (robot/sim/closed_loop.py: the robot's commands move it; by default
`gardenbot simulate` gives it held-out garden g07, summer then autumn) or on recordings / a
video played in place of the camera — perception with the shipped adapter, the
policy, the MCU emulator in its own process on a real pseudo-terminal through the pyserial
link, experience and annotation labels into the replay buffer, the learner in its own process —
presses the (simulated) retrain button, and returns the summary (robot/sim/report.py prints
it). The command is tools/simulate.py; docs/simulate.md explains the summary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from robot.common.classes import SEASONS
from robot.common.errors import CameraError, RecordingError
from robot.runtime.config import Config
from robot.runtime.loop import Tick

log = logging.getLogger(__name__)

DEFAULT_BUTTON_PIN = 17
DEFAULT_PRESS_AT = 0.25  # share of the last recording played before the button is pressed
OWNER_ASK_EVERY_S = 1.0  # simulated owner: a frame may give questions once per loop second
SIM_START = datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class SimulationOptions:
    """What to play and how (the options of `gardenbot simulate`, docs/simulate.md)."""

    recording: list[Path] = field(default_factory=list)  # played one after another
    video: Path | None = None  # any video file instead: no labels, no telemetry
    frame_step: int = 1
    max_frames: int | None = None  # of each recording
    speed: float = 1.0  # 1 = real time, 0 = as fast as it goes
    card: Path | None = None  # backbone card; None = the config's, else the shipped
    defaults: Path | None = None  # starting adapter store and buffer; None = the config's
    press_after: int | None = None  # frames of the last recording; None = a share; -1 = never
    annotate: float = 0.5  # share of labelled frames whose labels enter the buffer
    owner_answers: int = 0  # closed loop: questions the simulated owner answers before a retrain
    holdout: float = 0.3  # last share of each recording, never learned from
    wait_learner: float = 180.0  # seconds to wait after the last frame for a running retrain
    out: Path | None = None  # annotated video
    show: bool = False  # annotated frames in a window
    # the closed loop (robot/sim/closed_loop.py): a garden the robot's own commands drive in
    garden: Any = None  # a SimulatedGarden; when given, the recordings and video are not used
    stages: tuple[Any, ...] = ()  # closed_loop.Stage: a season for so many simulated seconds
    fps: float = 10.0  # closed loop: camera frames per simulated second
    drive_frames: int = 100  # closed loop: the new adapter drives at least this many frames
    eval_views: int = 20  # closed loop: held-back views per season, from fixed poses
    oracle_eyes: bool = False  # drive on the frames' true cells (the reference run)
    # closed loop: the memory of places and pseudo-labels (docs/places.md); None = the config's
    places: bool | None = None
    pseudo: bool | None = None
    place_drift: float = 0.0  # added odometry heading drift, degrees per metre (a measurement)
    place_shadow_drifts: tuple[float, ...] = ()  # measure label precision under these drifts
    place_drift_alternates: bool = False  # the added drift changes sign every day
    # `gardenbot simulate --autonomous` (tools/autonomy): a drift monitor kept across the
    # sessions of many days, read on the simulated clock (an object with DriftMonitor's
    # ``update``); None = the learner's own, on this session's loop time
    drift: Any = None
    # closed loop: a retrain asked for while the robot drives lands at most this many simulated
    # seconds later — the loop waits for the learner process then, if it has not finished — so
    # that a slow or busy machine cannot push it later (one that finishes sooner on the wall
    # clock still lands sooner); None = the learner runs on the wall clock beside the loop (in
    # `bench autonomy`'s days on the 2-core machine, 4–8 simulated seconds per wall second)
    learn_s: float | None = None
    quiet: bool = False  # no status line and no opening line on stderr (a run of many days)


def sim_time(t: float) -> datetime:
    """Simulated local time: noon today plus the loop's time (quiet hours never interfere)."""
    return SIM_START + timedelta(seconds=t)


def find_samples(folder: Path) -> list[Path]:
    """The sample recordings in ``folder``: the order of its manifest.json if it has one
    (``{"recordings": ["summer", ...]}`` or entries with ``"path"``), else every recording
    folder in season order."""
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            entries = json.loads(manifest.read_text())["recordings"]
            return [folder / (e["path"] if isinstance(e, dict) else e) for e in entries]
        except (ValueError, KeyError, TypeError) as e:
            raise RecordingError(f"{manifest}: cannot read its recording list ({e})") from e
    found = [p for p in sorted(folder.iterdir()) if (p / "meta.json").is_file()] \
        if folder.is_dir() else []

    def season_rank(p: Path) -> tuple[int, str]:
        try:
            season = json.loads((p / "meta.json").read_text()).get("season")
        except ValueError:
            season = None
        return (SEASONS.index(season) if season in SEASONS else len(SEASONS), p.name)

    return sorted(found, key=season_rank)


def simulate(args: SimulationOptions, cfg: Config, data_dir: Path,
             dashboard: Any = None) -> dict[str, Any]:
    """Play the recordings (or the video) through the robot's loop; the summary as a dict
    (robot/sim/report.py prints it). ``dashboard``: a started
    robot.dashboard.service.DashboardService (`--web`) whose steps join the loop."""
    from gpiozero.pins.mock import MockFactory

    from firmware_bridge import BridgeError, Pose
    from robot.acting.policy import GroundGrid
    from robot.runtime.control import ActuationStep, PolicyStep, RobotLink, RobotState
    from robot.runtime.learning import (
        AnnotationStep,
        ExperienceStep,
        LearnerStep,
    )
    from robot.runtime.loop import Loop
    from robot.runtime.output import OverlayStep, StatusLine
    from robot.runtime.settings import defaults_dir, open_parts
    from robot.runtime.telemetry import TelemetryStep
    from robot.runtime.vision import CameraStep, PerceptionStep
    from robot.runtime.watch import driving_watch
    from robot.seeing.camera import VideoFile
    from robot.sim.closed_loop import GardenWorld, hold_back_views
    from robot.sim.outcomes import OracleEyes, OracleStep, Outcomes
    from robot.sim.scoreboard import Scoreboard, evaluate_versions
    from robot.sim.sequence import RecordingSequence
    from robot.sim.world import EmulatorWorld, RecordedTruth, SimulationError, SimZone, zones_of

    wall0 = time.monotonic()
    parts = open_parts(cfg, data_dir, args.defaults or defaults_dir(cfg), args.card)
    backbone, paths, perception, memory = (parts.backbone, parts.paths, parts.perception,
                                           parts.memory)
    closed = args.garden is not None
    outcomes = Outcomes()
    robot_body = cfg.robot
    if closed:
        garden = args.garden
        camera = garden.camera
        fps = args.fps
        # the simulated body is round: its width and reach are the garden's, not the config's
        robot_body = replace(cfg.robot, width_m=2 * garden.radius_m, front_m=garden.radius_m,
                             rear_m=garden.radius_m)
        zone_sets = [[SimZone(z, str(z.id)) for z in garden.zones()] for _ in args.stages]
        truths = [None] * len(args.stages)
        offsets = [0.0] * len(args.stages)
        names = [f"{garden.name.split()[0]} in {st.season} ({st.seconds:g} s)"
                 for st in args.stages]
    elif args.video:
        if not args.video.is_file():
            raise CameraError(f"{args.video}: video file does not exist")
        source: Any = VideoFile(args.video)
        fps = source.fps
        first = source.read_frame()  # one frame to learn the size
        source.close()
        if first is None:
            raise CameraError(f"{args.video}: no frame could be decoded")
        h, w = first.image.shape[:2]
        source = VideoFile(args.video)
        camera = replace(cfg.camera, width=w, height=h).model()
        truths: list[Any] = [None]
        offsets = [0.0]
        zone_sets: list[list[Any]] = [[]]
        names = [args.video.name]
    else:
        source = RecordingSequence(args.recording, args.frame_step, args.holdout,
                                   args.max_frames)
        first = source.recordings[0]
        fps = first.meta.fps / args.frame_step
        camera = first.meta.camera
        zone_sets = [zones_of(r.meta) for r in source.recordings]
        truths = [RecordedTruth(r, z) for r, z in zip(source.recordings, zone_sets, strict=True)]
        offsets = source.offsets
        names = [f"{r.path.name} ({r.meta.season or 'unknown season'}, "
                 + (f"{len(r)}" if source.frames_played(i) == len(r)
                    else f"{source.frames_played(i)} of {len(r)}") + " frames)"
                 for i, r in enumerate(source.recordings)]

    # The simulated owner's button: a mock pin, pressed in software (no bounce to wait out).
    pin = cfg.triggers.button_pin if cfg.triggers.button_pin >= 0 else DEFAULT_BUTTON_PIN
    settings = replace(parts.settings, triggers=replace(parts.settings.triggers,
                                                        button_pin=f"GPIO{pin}",
                                                        button_bounce_s=0.0))
    classes = parts.classes
    start_version = perception.classifier.version
    state = RobotState()
    ground = GroundGrid.from_camera(camera, backbone.grid_hw)
    policy_step = PolicyStep(ground, camera, cfg.policy, robot_body, cfg.watering,
                             [z.zone for z in zone_sets[0]], state, sim_time, probe=cfg.probe)
    buffer_start = len(memory.buffer)

    scoreboard = Scoreboard()
    if closed:
        hold_back_views(garden, [st.season for st in args.stages], perception, scoreboard,
                        args.eval_views)
    steps: list[Any] = []
    learner: Any = None
    try:
        if closed:
            world: Any = GardenWorld(garden, args.stages, fps, outcomes,
                                     extend=lambda: _new_adapter_driving(
                                         learner, outcomes, start_version, args.drive_frames))
            source = world
            camera_step = CameraStep(source)
            steps += [camera_step, world]
        else:
            camera_step = CameraStep(source)
            steps.append(camera_step)
            world = EmulatorWorld(truths, offsets)
            steps.append(world)
        try:
            link = RobotLink.open(world.port, cfg.serial)
            actuation = ActuationStep(link, state, sim_time)
        except BridgeError as e:
            raise SimulationError(f"no link to the MCU emulator on {world.port}: {e}") from e
        if closed:  # last tick's command is at the MCU (and still alive, faster than real time)
            world.before_physics = actuation.flush if args.speed > 0 else actuation.flush_renewed
        telemetry = TelemetryStep(link, state, range(4))
        own = _own_label_steps(args, cfg, memory, camera, backbone, classes, data_dir,
                               garden.name.split()[0] if closed else None)
        experience = ExperienceStep(memory, camera, backbone.grid_hw, classes, robot_body,
                                    cfg.experience, cfg.watering.moisture_threshold,
                                    describe=_describe, keyframe_period_s=0.1)
        experience.source_of = policy_step.prober.source_at  # probes' labels: source "probe"

        def on_segment(i: int, rec: dict[str, Any] | None) -> None:
            pose = Pose(rec["x_m"], rec["y_m"], rec["theta_rad"]) if rec else Pose()
            telemetry.reset(pose)
            experience.reset()
            policy_step.zones = tuple(z.zone for z in zone_sets[i])
            policy_step.prober.reset()
            state.pose = None

        if closed:
            world.on_stage = lambda i, pose: on_segment(
                i, {"x_m": pose[0], "y_m": pose[1], "theta_rad": pose[2]})
        else:
            world.on_segment = on_segment
        factory = MockFactory()
        learner = LearnerStep(memory, paths, settings, backbone_sha256=backbone.backbone_id,
                              feature_dim=backbone.feature_dim, classes=classes,
                              button_factory=factory, now=lambda: sim_time(0.0),
                              finish_at_end=True, progress=_waiting)
        learner.finish_timeout_s = args.wait_learner
        watch = driving_watch(paths, settings, perception.classifier.runner.store, learner,
                              policy_step)
        if args.drift is not None:
            learner.drift = args.drift
        last = len(truths) - 1
        owner = ButtonPresser(factory, pin, last, _press_at(args, source, last))
        dash = None
        questions: Any = None
        sim_owner: Any = None
        if dashboard is not None:  # --web: owner commands, questions, snapshots (robot/dashboard)
            from robot.dashboard.steps import RobotHandles

            dash = dashboard.steps(RobotHandles(
                learner, memory, actuation, policy_step, state, link,
                perception.classifier.runner.store, sim_time,
                lambda tick: _describe(tick).season, describe=_describe,
                min_confidence=cfg.policy.min_confidence), ask_every_s=5.0)
            questions = dash.questions
        if closed and args.owner_answers > 0:  # the owner answers from the garden's truth
            from robot.learning.questions import QuestionBoard
            from robot.runtime.learning import QuestionStep
            from robot.sim.owner import SimulatedOwner

            if questions is None:
                questions = QuestionStep(QuestionBoard(classes), memory, _describe,
                                         cfg.policy.min_confidence,
                                         ask_every_s=OWNER_ASK_EVERY_S)
            sim_owner = SimulatedOwner(questions.board, args.owner_answers, owner.due,
                                       questions.collect)
        oracle = OracleStep(ground, cfg.policy, robot_body, outcomes, state, camera)
        steps += [PerceptionStep(perception), *([OracleEyes()] if args.oracle_eyes else []),
                  scoreboard, policy_step,
                  *([dash.owner] if dash else []), oracle, actuation, telemetry, experience,
                  *own, watch,
                  AnnotationStep(memory, args.annotate, _describe),
                  *([questions] if questions else []), *([sim_owner] if sim_owner else []),
                  owner, learner, *([LearnerClock(learner, args.learn_s,
                                                  perception.classifier.runner.reload_if_changed)]
                                    if closed and args.learn_s is not None else [])]
        overlay = OverlayStep(args.out, args.show, fps,
                              lambda tick: _caption(tick, scoreboard))
        status = StatusLine(lambda tick, f: _status(tick, f, scoreboard, link, memory, learner))
        steps += [overlay, *([] if args.quiet else [status]),
                  *([dash.snapshot] if dash else [])]
        rate = fps * args.speed if args.speed > 0 else 0.0
        if not args.quiet:
            print(f"gardenbot simulate: {' → '.join(names)}; adapter {start_version}, "
                  f"{len(memory.buffer)} cells in the replay buffer", file=sys.stderr)
        result = Loop(steps, rate_hz=rate).run()
    except BaseException:
        for step in steps:  # the loop shuts down what it ran; this covers a failed start
            with contextlib.suppress(Exception):
                step.shutdown()
        raise
    store = perception.classifier.runner.store
    end_version = store.current_version()
    start_number = int(start_version.lstrip("v"))
    evaluation = evaluate_versions(store, sorted({start_number, end_version}),
                                   scoreboard.held_back)
    return {
        "inputs": names,
        "data_dir": str(data_dir),
        "frames": camera_step.frames,
        "seconds": round(time.monotonic() - wall0, 1),
        "loop_seconds": round(result.duration_s, 1),
        "fps": round(camera_step.frames / result.duration_s, 1) if result.duration_s else 0.0,
        "ended": result.reason,
        "step_ms": {k: round(v, 2) for k, v in result.step_ms.items()},
        "adapter": {"start": start_number, "end": end_version},
        "live_accuracy": {f"{s}|{v}": {"frames": t.frames, "accuracy": t.mean}
                          for (s, v), t in scoreboard.live.items()},
        "held_back": {s: {"frames": scoreboard.held_back[s].frames,
                          **{f"v{v}": a for v, a in accs.items()}}
                      for s, accs in evaluation.items()},
        "version_changes": scoreboard.version_changes,
        "button": {"pressed_at_frame": owner.pressed_at, "recording": last},
        "retrains": [_retrain_summary(r) for r in learner.retrains],
        "trials": watch.summary(), "bump_alarms": watch.bump_alarms,
        "slow_m": round(watch.slow_m, 1), "hold_frames": watch.hold_frames,
        "link": {"drives_sent": link.counters.drives_sent,
                 "drives_superseded": actuation.superseded,
                 "drives_renewed": actuation.renewed,
                 "drives_acked": link.counters.drives_acked,
                 "waters_sent": link.counters.waters_sent,
                 "waters_acked": link.counters.waters_acked,
                 "waterings": link.counters.waterings,
                 "failures": dict(link.counters.failures),
                 "wheel_limited": link.counters.wheel_limited,
                 "failsafe_events": link.failsafe_count,
                 "telemetry_records": telemetry.records, "telemetry_late": telemetry.late},
        "policy": dict(policy_step.reasons),
        "drive": outcomes.summary(),
        "closed_loop": ({"garden": garden.name.split()[0], "fps": fps,
                         "stages": [[st.season, st.seconds] for st in args.stages],
                         "extra_frames": world.extra_frames, "bump_reflexes":
                         policy_step.reflex.bumps, "world_ms": world.timing_ms()}
                        if closed else None),
        "mcu": _mcu_summary(world.final_state),
        "experience": {"labels": dict(experience.stats.labels),
                       "checked": dict(experience.stats.checked),
                       "precision": {k: experience.stats.precision(k)
                                     for k in experience.stats.labels
                                     if experience.stats.checked[k]},
                       "resolved": experience.stats.resolved,
                       "resolved_precision": (experience.stats.resolved_correct
                                              / experience.stats.resolved_checked
                                              if experience.stats.resolved_checked else None),
                       "set_labelled": experience.stats.set_labelled,
                       "added": experience.stats.added,
                       "by_source": dict(experience.stats.by_source),
                       "source_precision": {k: experience.stats.source_precision(k)
                                            for k in experience.stats.checked_by_source}},
        "probe": policy_step.prober.summary(),
        **{step.name: step.summary() for step in own},
        "owner": _owner_summary(questions, sim_owner),
        "buffer": {"start": buffer_start, "end": len(memory.buffer),
                   "offered": dict(memory.offered), "accepted": dict(memory.accepted),
                   "seasons": memory.buffer.season_counts()},
        "video": str(args.out) if args.out else None,
    }


def _own_label_steps(args: SimulationOptions, cfg: Config, memory: Any, camera: Any,
                     backbone: Any, classes: Any, data_dir: Path, garden: str | None) -> list[Any]:
    """The memory of places and the pseudo-labels, where switched on (closed loop only: they
    need a garden's name for the map and odometry from its dock)."""
    from robot.runtime.places import PlaceStep, PseudoStep

    if garden is None:
        return []
    steps: list[Any] = []
    if cfg.experience.places if args.places is None else args.places:
        steps.append(PlaceStep(memory, camera, backbone.grid_hw, classes, _describe,
                               garden=garden, backbone_sha256=backbone.backbone_id,
                               path=data_dir / "places" / f"{garden}.npz",
                               drift_deg_per_m=args.place_drift,
                               shadow_drifts=args.place_shadow_drifts,
                               alternate_drift=args.place_drift_alternates))
    if cfg.experience.pseudo if args.pseudo is None else args.pseudo:
        steps.append(PseudoStep(memory, camera, backbone.grid_hw, classes, _describe))
    return steps


class LearnerClock:
    """Puts the learner on the simulated clock: when a retrain asked for at loop time ``t`` is
    still running at ``t + learn_s``, the loop waits for it (the robot's last command expires
    meanwhile, as on a robot whose computer is busy), and perception takes a published adapter
    from the next frame on (``swap``: the runner's pointer check, not on its wall-clock
    period)."""

    name = "learner clock"

    def __init__(self, learner: Any, learn_s: float, swap: Callable[[], Any]) -> None:
        self.learner, self.learn_s, self.swap = learner, learn_s, swap

    def run(self, tick: Tick) -> None:
        if tick.frame is None or not self.learner.running or not self.learner.retrains:
            return
        if tick.frame.t - self.learner.retrains[-1].requested_t < self.learn_s:
            return
        self.learner.wait(self.learner.finish_timeout_s)
        self.swap()

    def shutdown(self) -> None:
        pass


def _new_adapter_driving(learner: Any, outcomes: Any, start_version: str,
                         drive_frames: int) -> bool:
    """Whether the closed loop should run on past its last stage: a retrain was asked for and
    has not ended yet, or its new adapter has driven fewer than ``drive_frames`` frames."""
    if learner is None or not learner.retrains:
        return False
    last = learner.retrains[-1]
    state = last.status.state if last.status is not None else "starting"
    if state in ("rejected", "failed"):
        return False
    driven = sum(sum(t.reasons.values()) for (_, v), t in outcomes.tallies.items()
                 if v != start_version)  # frames decided by a newer adapter
    return driven < drive_frames


def _describe(tick: Tick) -> Any:
    from robot.runtime.learning import CellOrigin

    seg = tick.segment
    t = tick.frame.t if tick.frame is not None else 0.0
    return CellOrigin(season=(seg.season or "") if seg else "",
                      recording=f"sim-{seg.index}-{seg.name}" if seg else "sim-video",
                      time_s=sim_time(t).timestamp(), held_back=bool(seg and seg.held_back))


def _press_at(args: SimulationOptions, source: Any, last: int) -> int | None:
    if args.press_after is not None:
        return None if args.press_after < 0 else args.press_after
    frames = source.frames_played(last) if hasattr(source, "frames_played") else None
    return math.floor(DEFAULT_PRESS_AT * frames) if frames else 100


class ButtonPresser:
    """The garden's owner: presses the retrain button (a gpiozero mock pin) once, after
    ``after`` frames of recording ``segment``."""

    name = "owner"

    def __init__(self, factory: Any, pin: int, segment: int, after: int | None) -> None:
        self.factory, self.pin, self.segment, self.after = factory, pin, segment, after
        self.pressed_at: int | None = None

    def due(self, tick: Tick) -> bool:
        """Whether this tick is when the button gets (or got) pressed."""
        if self.after is None or tick.frame is None:
            return False
        seg = tick.segment
        index, frame = (seg.index, seg.frame) if seg is not None else (0, tick.index)
        return index == self.segment and frame >= self.after

    def run(self, tick: Tick) -> None:
        if self.pressed_at is not None:
            return
        if self.due(tick):
            seg = tick.segment
            frame = seg.frame if seg is not None else tick.index
            pin = self.factory.pin(self.pin)
            pin.drive_low()  # pressed: the button pulls the pin to ground
            pin.drive_high()
            self.pressed_at = frame
            log.info("retrain button pressed at frame %d", frame)

    def shutdown(self) -> None:
        pass


_last_wait = [""]


def _waiting(status: Any) -> None:
    text = (f"after the last frame: waiting for the learner ({status.stage or status.state} "
            f"{100 * status.progress:3.0f}%)")
    if text != _last_wait[0]:
        print(text, file=sys.stderr, flush=True)
        _last_wait[0] = text


def _caption(tick: Tick, board: Any) -> str:
    seg = tick.segment
    acc = board.recent_accuracy
    parts = [seg.season or seg.name if seg else "", tick.cells.adapter_version if tick.cells
             else "", f"acc {acc:.2f}" if acc is not None else "",
             tick.drive.reason if tick.drive else ""]
    return "  ".join(p for p in parts if p)


def _status(tick: Tick, fps: float, board: Any, link: Any, memory: Any, learner: Any) -> str:
    seg = tick.segment
    season = (seg.season or seg.name) if seg else "video"
    acc = board.recent_accuracy
    version = tick.cells.adapter_version if tick.cells is not None else "-"
    c = link.counters
    doing = tick.drive.reason.split("+")[0] if tick.drive is not None else "-"
    return (f"{fps:4.1f} fps | {season:<7} | acc {acc if acc is None else f'{acc:.2f}'} | "
            f"{doing:<12} | cmds {c.drives_sent}/{c.drives_acked} acked | "
            f"water {c.waters_acked} | "
            f"buffer {len(memory.buffer)} (+{memory.new_cells} new) | adapter {version} | "
            f"learner {learner.state}")


def _owner_summary(questions: Any, sim_owner: Any) -> dict[str, Any] | None:
    """The questions asked and what the (simulated) owner answered; None without questions."""
    if questions is None:
        return None
    board = questions.board
    out = {"asked": board.asked, "withdrawn": board.withdrawn, "dropped": board.dropped,
           "open": len(board), "cells_offered": questions.owner_cells}
    if sim_owner is not None:
        out.update(sim_owner.stats.summary(), wanted=sim_owner.answers)
    return out


def _mcu_summary(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the emulated MCU itself counted (its own view, not the host's)."""
    if state is None:
        return None
    return {"commands": state["commands"], "waters": len(state["waters"]),
            "failsafe_count": state["failsafe_count"], "rx_errors": state["rx_errors"]}


def _retrain_summary(r: Any) -> dict[str, Any]:
    st = r.status
    res = st.result if st is not None else {}
    return {"reason": r.reason, "requested_t": round(r.requested_t, 2),
            "state": st.state if st is not None else "starting",
            "message": st.message if st is not None else "",
            "seconds": round(r.seconds, 1) if r.seconds is not None else None,
            "version": res.get("version"), "candidate_score": res.get("candidate_score"),
            "current_score": res.get("current_score"), "new_cells": res.get("new_cells"),
            "replay_cells": res.get("replay_cells"), "train_s": res.get("train_s")}
