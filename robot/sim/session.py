"""`gardenbot simulate`: the whole robot on recorded gardens, on this computer (docs/simulate.md).

With no arguments it plays the bundled sample recordings (models/samples: one held-out garden
in summer, then in autumn) through the robot's own loop — perception with the shipped
adapter, the policy, the MCU emulator in its own process on a real pseudo-terminal through
the pyserial link, experience and annotation labels into the replay buffer, the learner in its
own process — shows the accuracy against the recordings' label maps drop when autumn comes,
presses the (simulated) retrain button, and shows the accuracy recover while summer is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from robot.classes import SEASONS
from robot.config import Config, load_config
from robot.errors import CameraError, GardenbotError, RecordingError
from robot.runtime.loop import Tick

log = logging.getLogger(__name__)

DEFAULT_BUTTON_PIN = 17
DEFAULT_PRESS_AT = 0.25  # share of the last recording played before the button is pressed
SIM_START = datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gardenbot simulate", description=__doc__.split("\n\n")[1],
        epilog="Details and how to read the summary: docs/simulate.md")
    src = p.add_argument_group("input (default: the sample recordings in models/samples)")
    src.add_argument("--recording", action="append", type=Path, metavar="DIR", default=[],
                     help="a recording folder; repeat for a sequence (e.g. summer, autumn)")
    src.add_argument("--video", type=Path, metavar="FILE",
                     help="any video file: no labels, no telemetry (no accuracy is shown)")
    src.add_argument("--frame-step", type=int, default=1, metavar="N",
                     help="play every N-th frame (default 1)")
    src.add_argument("--max-frames", type=int, metavar="N",
                     help="play at most N frames of each recording")
    src.add_argument("--speed", type=float, default=1.0,
                     help="playback speed: 1 = real time (default), 0 = as fast as it goes")
    robot = p.add_argument_group("robot")
    robot.add_argument("--config", type=Path, help="a gardenbot.toml (default: the defaults)")
    robot.add_argument("--card", type=Path,
                       help="backbone model card (default: the config's, else the shipped "
                            "models/backbone.json)")
    robot.add_argument("--defaults", type=Path, metavar="DIR",
                       help="starting adapter store and replay buffer (default: the config's "
                            "paths.defaults_dir, else the shipped models/default)")
    robot.add_argument("--data-dir", type=Path, metavar="DIR",
                       help="keep the robot's data (buffer, adapters) here; default: a "
                            "temporary folder, removed at the end")
    learn = p.add_argument_group("learning")
    learn.add_argument("--press-after", type=int, metavar="N",
                       help="press the retrain button after N frames of the last recording "
                            f"(default: {DEFAULT_PRESS_AT:.0%} of them); -1 = never")
    learn.add_argument("--annotate", type=float, default=0.5, metavar="FRACTION",
                       help="share of labelled frames whose labels go to the buffer as owner "
                            "annotations (default 0.5; 0 = experience labels only)")
    learn.add_argument("--holdout", type=float, default=0.3, metavar="FRACTION",
                       help="last share of each recording kept for evaluation, never learned "
                            "from (default 0.3)")
    learn.add_argument("--wait-learner", type=float, default=180.0, metavar="S",
                       help="after the last frame, wait this long for a running retrain")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, metavar="FILE.mp4", help="write the annotated video")
    out.add_argument("--show", action="store_true", help="show the annotated frames in a window")
    out.add_argument("--json", type=Path, metavar="FILE", help="also write the summary as JSON")
    out.add_argument("--log-json", action="store_true", help="log as JSON lines")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from robot.logs import configure_logging

    root = logging.getLogger()
    _drop_plain_stderr_handlers(root)
    configure_logging("debug" if root.level == logging.DEBUG else "warning", args.log_json)
    if args.recording and args.video:
        raise GardenbotError("give --recording or --video, not both")
    if args.speed < 0 or args.frame_step < 1 or not 0 <= args.holdout < 1 \
            or not 0 <= args.annotate <= 1:
        raise GardenbotError("--speed must be >= 0, --frame-step >= 1, --holdout in [0, 1) "
                             "and --annotate in [0, 1]")
    cfg = load_config(args.config) if args.config else Config()
    if not args.video and not args.recording:
        from models import SAMPLES_DIR

        args.recording = find_samples(SAMPLES_DIR)
        if not args.recording:
            raise RecordingError(f"{SAMPLES_DIR}: no sample recordings there; give "
                                 "--recording DIR (or --video FILE)")
    temp = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="gardenbot-sim-")) if temp else args.data_dir
    try:
        summary = simulate(args, cfg, data_dir)
    finally:
        if temp:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(format_summary(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 0


def _drop_plain_stderr_handlers(root: logging.Logger) -> None:
    """The dispatcher's basicConfig handler; ours replaces it (pytest's stay)."""
    for h in list(root.handlers):
        if type(h) is logging.StreamHandler and getattr(h, "stream", None) is sys.stderr:
            root.removeHandler(h)


def simulate(args: argparse.Namespace, cfg: Config, data_dir: Path) -> dict[str, Any]:
    from gpiozero.pins.mock import MockFactory

    from firmware_bridge import BridgeError, Pose
    from robot.camera import VideoFile
    from robot.policy import GroundGrid
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
    from robot.sim.scoreboard import Scoreboard, evaluate_versions
    from robot.sim.sequence import RecordingSequence
    from robot.sim.world import EmulatorWorld, RecordedTruth, SimulationError, zones_of

    wall0 = time.monotonic()
    parts = open_parts(cfg, data_dir, args.defaults or defaults_dir(cfg), args.card)
    backbone, paths, perception, memory = (parts.backbone, parts.paths, parts.perception,
                                           parts.memory)
    if args.video:
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
        names = [f"{r.path.name} ({r.meta.season or 'unknown season'}, {len(r)} frames)"
                 for r in source.recordings]

    # The simulated owner's button: a mock pin, pressed in software (no bounce to wait out).
    pin = cfg.triggers.button_pin if cfg.triggers.button_pin >= 0 else DEFAULT_BUTTON_PIN
    settings = replace(parts.settings, triggers=replace(parts.settings.triggers,
                                                        button_pin=f"GPIO{pin}",
                                                        button_bounce_s=0.0))
    classes = parts.classes
    start_version = perception.classifier.version
    state = RobotState()
    policy_step = PolicyStep(GroundGrid.from_camera(camera, backbone.grid_hw), camera,
                             cfg.policy, cfg.robot, cfg.watering,
                             [z.zone for z in zone_sets[0]], state, sim_time)
    buffer_start = len(memory.buffer)

    camera_step = CameraStep(source)
    steps: list[Any] = [camera_step]
    try:
        world = EmulatorWorld(truths, offsets)
        steps.append(world)
        try:
            link = RobotLink.open(world.port, cfg.serial)
            actuation = ActuationStep(link, state, sim_time)
        except BridgeError as e:
            raise SimulationError(f"no link to the MCU emulator on {world.port}: {e}") from e
        telemetry = TelemetryStep(link, state, range(4))
        experience = ExperienceStep(memory, camera, backbone.grid_hw, classes, cfg.robot,
                                    cfg.experience, cfg.watering.moisture_threshold,
                                    describe=_describe, keyframe_period_s=0.1)

        def on_segment(i: int, rec: dict[str, Any] | None) -> None:
            pose = Pose(rec["x_m"], rec["y_m"], rec["theta_rad"]) if rec else Pose()
            telemetry.reset(pose)
            experience.reset()
            policy_step.zones = tuple(z.zone for z in zone_sets[i])
            state.pose = None

        world.on_segment = on_segment
        factory = MockFactory()
        learner = LearnerStep(memory, paths, settings, backbone_sha256=backbone.backbone_id,
                              feature_dim=backbone.feature_dim, classes=classes,
                              button_factory=factory, now=lambda: sim_time(0.0),
                              finish_at_end=True, progress=_waiting)
        learner.finish_timeout_s = args.wait_learner
        scoreboard = Scoreboard()
        last = len(truths) - 1
        owner = ButtonPresser(factory, pin, last, _press_at(args, source, last))
        steps += [PerceptionStep(perception), scoreboard, policy_step,
                  actuation, telemetry, experience,
                  AnnotationStep(memory, args.annotate, _describe), owner, learner]
        overlay = OverlayStep(args.out, args.show, fps,
                              lambda tick: _caption(tick, scoreboard))
        status = StatusLine(lambda tick, f: _status(tick, f, scoreboard, link, memory, learner))
        steps += [overlay, status]
        rate = fps * args.speed if args.speed > 0 else 0.0
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
        "link": {"drives_sent": link.counters.drives_sent,
                 "drives_superseded": actuation.superseded,
                 "drives_acked": link.counters.drives_acked,
                 "waters_sent": link.counters.waters_sent,
                 "waters_acked": link.counters.waters_acked,
                 "waterings": link.counters.waterings,
                 "failures": dict(link.counters.failures),
                 "wheel_limited": link.counters.wheel_limited,
                 "failsafe_events": link.failsafe_count,
                 "telemetry_records": telemetry.records, "telemetry_late": telemetry.late},
        "policy": dict(policy_step.reasons),
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
                       "added": experience.stats.added},
        "buffer": {"start": buffer_start, "end": len(memory.buffer),
                   "offered": dict(memory.offered), "accepted": dict(memory.accepted),
                   "seasons": memory.buffer.season_counts()},
        "video": str(args.out) if args.out else None,
    }


def _describe(tick: Tick) -> Any:
    from robot.runtime.learning import CellOrigin

    seg = tick.segment
    t = tick.frame.t if tick.frame is not None else 0.0
    return CellOrigin(season=(seg.season or "") if seg else "",
                      recording=f"sim-{seg.index}-{seg.name}" if seg else "sim-video",
                      time_s=sim_time(t).timestamp(), held_back=bool(seg and seg.held_back))


def _press_at(args: argparse.Namespace, source: Any, last: int) -> int | None:
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

    def run(self, tick: Tick) -> None:
        if self.after is None or self.pressed_at is not None or tick.frame is None:
            return
        seg = tick.segment
        index, frame = (seg.index, seg.frame) if seg is not None else (0, tick.index)
        if index == self.segment and frame >= self.after:
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
    return (f"{fps:4.1f} fps | {season:<7} | acc {acc if acc is None else f'{acc:.2f}'} | "
            f"cmds {c.drives_sent}/{c.drives_acked} acked | water {c.waters_acked} | "
            f"buffer {len(memory.buffer)} (+{memory.new_cells} new) | adapter {version} | "
            f"learner {learner.state}")


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


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def format_summary(s: dict[str, Any]) -> str:
    """The final report, in plain text (docs/simulate.md explains each line)."""
    a0, a1 = s["adapter"]["start"], s["adapter"]["end"]
    lines = [
        "",
        f"gardenbot simulate: {s['frames']} frames in {s['loop_seconds']} s "
        f"({s['fps']} frames/s; {s['seconds']} s in all), {s['ended']}",
        f"  input: {' → '.join(s['inputs'])}",
    ]
    seasons = list(dict.fromkeys(k.split("|")[0] for k in s["live_accuracy"]))
    if seasons:
        versions = sorted({k.split("|")[1] for k in s["live_accuracy"]},
                          key=lambda v: int(v.lstrip("v")))
        lines.append("")
        lines.append("accuracy per cell against the label maps")
        lines.append("  live, frames as played, by the adapter that classified them:")
        header = "    season   " + "".join(f"{v:>16}" for v in versions)
        lines.append(header)
        for season in seasons:
            row = f"    {season:<8} "
            for v in versions:
                t = s["live_accuracy"].get(f"{season}|{v}")
                row += f"{_fmt(t['accuracy']) + ' (' + str(t['frames']) + ' fr)':>16}" if t \
                    else f"{'':>16}"
            lines.append(row)
        if s["held_back"]:
            lines.append(f"  held back (last frames of each recording, never learned from), "
                         f"before → after: v{a0} → v{a1}")
            for season, row in s["held_back"].items():
                before, after = row.get(f"v{a0}"), row.get(f"v{a1}")
                change = "" if a0 == a1 or before is None or after is None else \
                    f"  ({after - before:+.3f})"
                lines.append(f"    {season:<8} {_fmt(before)} → {_fmt(after)}{change}"
                             f"   on {row['frames']} frames")
    else:
        lines.append("  (no label maps in the input: no accuracy to show)")
    lines.append("")
    b = s["button"]
    lines.append("retrain: " + (f"button pressed at frame {b['pressed_at_frame']} of the last "
                                "input" if b["pressed_at_frame"] is not None
                                else "button not pressed"))
    for r in s["retrains"]:
        if r["state"] in ("published", "rejected"):
            lines.append(f"  {r['reason']}: {r['state']}"
                         + (f" as v{r['version']}" if r["version"] else "")
                         + f" after {r['seconds']} s (validation {_fmt(r['current_score'])} → "
                         f"{_fmt(r['candidate_score'])}; {r['new_cells']} new + "
                         f"{r['replay_cells']} replayed cells, trained in {r['train_s']} s)")
        else:
            lines.append(f"  {r['reason']}: {r['state']} {r['message']}")
    if s["version_changes"]:
        t, season, v = s["version_changes"][0]
        lines.append(f"  perception switched to {v} at t = {t:.1f} s ({season})")
    elif s["retrains"] and a1 != a0:
        lines.append(f"  v{a1} was published after the last frame"
                     + (" (shown in the held-back rows only)" if s["held_back"] else ""))
    L = s["link"]
    lines.append("")
    failures = ", ".join(f"{k} {n}" for k, n in L["failures"].items()) or "none"
    zones = ", ".join(f"zone {z} {ms} ms" for z, ms in L["waterings"]) or "none"
    superseded = f" ({L['drives_superseded']} superseded by a newer one before they went " \
        "out)" if L["drives_superseded"] else ""
    lines.append(f"link: {L['drives_sent']} drive commands sent, {L['drives_acked']} acked"
                 f"{superseded}; "
                 f"failures: {failures}; failsafe events (MCU): {L['failsafe_events']}")
    mcu = s.get("mcu")
    if mcu:
        counts = ", ".join(f"{k} {n}" for k, n in sorted(mcu["commands"].items()))
        lines.append(f"  the emulated MCU received: {counts}; {mcu['rx_errors']} bad frames")
    lines.append(f"  waterings: {L['waters_acked']} of {L['waters_sent']} acked ({zones}); "
                 f"policy: " + ", ".join(f"{k} {n}" for k, n in sorted(s["policy"].items())))
    e = s["experience"]
    lines.append("")
    kinds = ", ".join(
        f"{k} {n}" + (f" (precision {e['precision'][k]:.2f} of {e['checked'][k]} checked)"
                      if k in e["precision"] else "")
        for k, n in sorted(e["labels"].items())) or "none"
    lines.append(f"experience labels: {kinds}")
    lines.append(f"  confirmed as a class {e['resolved']} (precision "
                 f"{_fmt(e['resolved_precision'])}), offered to the buffer {e['added']}")
    buf = s["buffer"]
    offered = ", ".join(f"{k} {n} offered / {buf['accepted'].get(k, 0)} kept"
                        for k, n in buf["offered"].items()) or "nothing"
    lines.append(f"replay buffer: {buf['start']} → {buf['end']} cells ({offered}); "
                 f"seasons {buf['seasons']}")
    if s["video"]:
        lines.append(f"annotated video: {s['video']}")
    return "\n".join(lines)
