"""Loop steps that learn: labels into the replay buffer, triggers that start the learner.

- :class:`Memory` — the replay buffer as the loop owns it, with the count of cells no adapter
  has been trained on yet ("new" cells, what the schedule and drift triggers wait for).
- :class:`ExperienceStep` — keyframes and telemetry → experience labels
  (robot/learning/experience.py) → buffer cells with ``source="experience"``. Measures the
  labels' precision live on frames that carry a label map.
- :class:`AnnotationStep` — frames with a label map (a recording, an owner-labelled frame):
  a configurable share of them → buffer cells with ``source="annotation"``.
- :class:`LearnerStep` — the retrain button (gpiozero), the schedule, the drift alarm and
  explicit requests (a signal, the simulation) start a :class:`LearnerProcess` in the
  background. Starting never blocks the loop: the buffer is snapshotted, then written and the
  process spawned on a helper thread. The published adapter reaches perception through the
  adapter store (AdapterRunner hot-swaps).
- :class:`QuestionStep` — frames where the robot stopped, was unsure or saw something novel →
  the most useful, diverse questions to the owner (robot/learning/choosing.py, questions.py);
  the answers → buffer cells with ``source="owner"``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from robot.common.atomic import atomic_write_bytes
from robot.common.body import RobotConfig
from robot.common.classes import UNLABELLED
from robot.common.errors import GardenbotError
from robot.common.geometry import CameraModel
from robot.common.samples import MAX_SET_CLASSES, cells_from_grid, make_cells, set_mask
from robot.learning.choosing import (
    KEEP,
    MAX_GROUPS,
    cell_doubt,
    choose_questions,
    frame_candidates,
)
from robot.learning.config import ExperienceConfig, LearnerSettings
from robot.learning.experience import (
    PoseTrack,
    events_from_telemetry,
    experience_labels,
    resolve_label,
)
from robot.learning.paths import LearnerPaths
from robot.learning.process import LearnerProcess, LearnerStatus
from robot.learning.questions import Question, QuestionBoard
from robot.learning.replay_buffer import ReplayBuffer
from robot.learning.retrain import RetrainJob
from robot.learning.triggers import DriftMonitor, RetrainButton, ScheduleGate, ScheduleTrigger
from robot.runtime.loop import Tick

log = logging.getLogger(__name__)

HUMAN_SOURCES = ("owner", "annotation")  # label sources a person stands behind


@dataclass(frozen=True)
class CellOrigin:
    """Where a frame's cells come from, for the buffer's season and recording columns."""

    season: str
    recording: str
    time_s: float  # unix seconds (simulated time in a simulation)
    held_back: bool = False  # an evaluation frame: its cells never enter the buffer


Describe = Callable[[Tick], CellOrigin]


class Memory:
    """The replay buffer the loop adds to, and how many of its cells are new."""

    def __init__(self, buffer: ReplayBuffer, path: Path, trained_upto_uid: int = -1) -> None:
        self.buffer = buffer
        self.path = Path(path)
        self.trained_upto_uid = trained_upto_uid  # the current adapter has seen cells up to it
        self.offered: Counter[str] = Counter()  # cells offered, by source
        self.accepted: Counter[str] = Counter()  # cells the buffer's policy took in

    @classmethod
    def open(cls, path: Path, store_dir: Path, backbone_sha256: str, feature_dim: int,
             classes: Sequence[str], settings: LearnerSettings) -> Memory:
        from robot.adapter.store import AdapterStore

        buffer = ReplayBuffer.open(path, feature_dim=feature_dim, backbone_sha256=backbone_sha256,
                                   classes=classes, config=settings.buffer)
        store = AdapterStore(store_dir, backbone_sha256=backbone_sha256, feature_dim=feature_dim)
        upto = -1
        if store.current_version() is not None:
            upto = int(store.load_state().info.get("trained_upto_uid", -1))
        return cls(buffer, path, upto)

    @property
    def new_cells(self) -> int:
        """Cells in the buffer that no published adapter was trained on."""
        return self.buffer.count_newer_than(self.trained_upto_uid)

    @property
    def new_human_cells(self) -> int:
        """New cells a person labelled: owner answers and label maps."""
        return self.buffer.count_newer_than(self.trained_upto_uid, HUMAN_SOURCES)

    def add(self, cells: Any, source: str) -> int:
        if not len(cells):
            return 0
        taken = self.buffer.add(cells)
        self.offered[source] += len(cells)
        self.accepted[source] += taken
        return taken

    def snapshot(self) -> tuple[bytes, int]:
        """The buffer file's bytes now (the learner reads the file, not this object) and the
        highest uid in it."""
        return self.buffer.to_bytes(), self.buffer.next_uid - 1

    def save(self) -> None:
        self.buffer.save(self.path)


@dataclass
class KeyFrame:
    t: float
    features: np.ndarray  # (h, w, C) float16
    predicted: np.ndarray  # (h, w) uint8: what the adapter saw (resolves set labels)
    truth: np.ndarray | None  # (h, w) cell labels when the frame had a label map
    origin: CellOrigin


@dataclass
class ExperienceStats:
    labels: Counter[str] = field(default_factory=Counter)  # by kind
    checked: Counter[str] = field(default_factory=Counter)  # on frames with a label map
    correct: Counter[str] = field(default_factory=Counter)  # truth in the allowed set
    resolved: int = 0  # labels that became a class (set labels confirmed by the adapter)
    set_labelled: int = 0  # set labels buffered as sets (cfg.set_labels), adapter or not
    resolved_checked: int = 0
    resolved_correct: int = 0
    added: int = 0  # cells offered to the buffer
    # by source ("experience", or "probe" for events during a probe: robot/acting/probe.py)
    by_source: Counter[str] = field(default_factory=Counter)  # cells offered to the buffer
    checked_by_source: Counter[str] = field(default_factory=Counter)
    correct_by_source: Counter[str] = field(default_factory=Counter)

    def source_precision(self, source: str) -> float | None:
        checked = self.checked_by_source[source]
        return self.correct_by_source[source] / checked if checked else None

    def precision(self, kind: str | None = None) -> float | None:
        checked = sum(self.checked.values()) if kind is None else self.checked[kind]
        correct = sum(self.correct.values()) if kind is None else self.correct[kind]
        return correct / checked if checked else None


class ExperienceStep:
    """Keyframes + telemetry → experience labels → buffer (``source="experience"``).

    A keyframe (features, prediction, label map if any) is kept every ``keyframe_period_s``
    for ``horizon_s``; every ``label_period_s`` the events of the recent telemetry that are
    settled (older than ``quiet_window_s``: smooth driving needs quiet on both sides) and not
    yet used label the keyframes they project onto. A cell is labelled once.

    A set label ("traversable" = {lawn, path}) goes into the buffer as a set (``allowed``) when
    ``cfg.set_labels`` is on, whatever the adapter predicted there: that is how driving over
    leaf-covered lawn corrects an adapter that calls it "plant". With it off, only set labels
    whose set holds the adapter's prediction get in, as that class (confirm-only).

    ``source_of`` (set by the caller; None = all "experience") names the source of an event at
    a loop time: the policy's prober says "probe" for the events of its probes.
    """

    name = "experience"

    def __init__(
        self, memory: Memory, camera: CameraModel, grid_hw: tuple[int, int],
        classes: Sequence[str], robot: RobotConfig, cfg: ExperienceConfig, dry_below: float,
        describe: Describe, keyframe_period_s: float = 0.1, label_period_s: float = 1.0,
    ) -> None:
        self.memory = memory
        self.camera, self.grid_hw, self.classes = camera, grid_hw, tuple(classes)
        self.robot, self.cfg, self.dry_below = robot, cfg, dry_below
        self.describe = describe
        self.keyframe_period_s = keyframe_period_s
        self.label_period_s = label_period_s
        self.stats = ExperienceStats()
        self.source_of: Callable[[float], str] | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the recent past (a new recording: another place, another time)."""
        self._records: deque[dict[str, Any]] = deque()
        self._keyframes: deque[KeyFrame] = deque()
        self._last_kf_t = -np.inf
        self._next_pass_t: float | None = None
        self._done_t = -np.inf
        self._seen: set[tuple[float, int, int]] = set()

    def run(self, tick: Tick) -> None:
        if not self.cfg.enabled:
            return
        self._records.extend(tick.records)
        cells = tick.cells
        if cells is not None and cells.features is not None \
                and cells.t - self._last_kf_t >= self.keyframe_period_s - 1e-6:
            self._last_kf_t = cells.t
            self._keyframes.append(KeyFrame(cells.t, cells.features.astype(np.float16),
                                            cells.classes.copy(), tick.truth,
                                            self.describe(tick)))
        now = self._records[-1]["t"] if self._records else None
        if now is None:
            return
        keep_from = now - self.cfg.horizon_s - 2 * self.cfg.quiet_window_s - 1.0
        while self._records and self._records[0]["t"] < keep_from:
            self._records.popleft()
        while self._keyframes and self._keyframes[0].t < keep_from:
            self._keyframes.popleft()
        if self._seen and min(k[0] for k in self._seen) < keep_from:
            # Labels of dropped keyframes cannot come again: forget them, or a long run grows.
            self._seen = {k for k in self._seen if k[0] >= keep_from}
        if self._next_pass_t is None:
            self._next_pass_t = now + self.label_period_s
        if now >= self._next_pass_t:
            self._next_pass_t = now + self.label_period_s
            self.label(now)

    def label(self, now: float) -> None:
        """One labelling pass over the settled events not used yet."""
        records = list(self._records)
        track = PoseTrack.from_telemetry(records)
        events = events_from_telemetry(records, self.classes, self.robot, self.cfg,
                                       self.dry_below, track)
        cutoff = now - self.cfg.quiet_window_s
        fresh = [e for e in events if self._done_t < e.t <= cutoff]
        self._done_t = cutoff
        kfs = list(self._keyframes)
        if not fresh or not kfs:
            return
        labels = experience_labels([k.t for k in kfs], track, fresh, self.camera, self.grid_hw,
                                   self.cfg)
        rows: dict[tuple[int, str], list[tuple[int, int, int, int]]] = {}
        for lb in labels:
            self.stats.labels[lb.kind] += 1
            kf = kfs[lb.frame]
            source = self.source_of(lb.t_event) if self.source_of is not None else "experience"
            truth = kf.truth[lb.row, lb.col] if kf.truth is not None else UNLABELLED
            if lb.allowed and truth != UNLABELLED:
                self.stats.checked[lb.kind] += 1
                self.stats.correct[lb.kind] += int(truth in lb.allowed)
                self.stats.checked_by_source[source] += 1
                self.stats.correct_by_source[source] += int(truth in lb.allowed)
            cls = resolve_label(lb, int(kf.predicted[lb.row, lb.col])) if lb.allowed \
                else UNLABELLED
            as_set = (self.cfg.set_labels and lb.label == UNLABELLED and len(lb.allowed) > 1
                      and max(lb.allowed) < MAX_SET_CLASSES)
            key = (kf.t, lb.row, lb.col)
            if (cls == UNLABELLED and not as_set) or key in self._seen:
                continue
            self._seen.add(key)
            if cls != UNLABELLED:  # reported as before: the confirm-only view of the labels
                self.stats.resolved += 1
                if truth != UNLABELLED:
                    self.stats.resolved_checked += 1
                    self.stats.resolved_correct += int(truth == cls)
            mask = set_mask(lb.allowed) if as_set else 0
            self.stats.set_labelled += int(as_set)
            if not kf.origin.held_back:
                rows.setdefault((lb.frame, source), []).append(
                    (lb.row, lb.col, UNLABELLED if as_set else cls, mask))
        for (f, source), cells in rows.items():
            kf = kfs[f]
            r, c, y, m = (np.array(v) for v in zip(*cells, strict=True))
            batch = make_cells(kf.features[r, c], y, source=source,
                               season=kf.origin.season, time_s=kf.origin.time_s,
                               recording=kf.origin.recording, allowed=m)
            self.stats.added += len(batch)
            self.stats.by_source[source] += len(batch)
            self.memory.add(batch, source)

    def shutdown(self) -> None:
        pass


class AnnotationStep:
    """Frames with a label map → buffer (``source="annotation"``), ``fraction`` of them (an
    owner labels some frames, not all); held-back frames never."""

    name = "annotation"

    def __init__(self, memory: Memory, fraction: float, describe: Describe) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"annotation fraction must be in [0, 1], got {fraction}")
        self.memory = memory
        self.fraction = fraction
        self.describe = describe
        self.seen = 0
        self.frames = 0
        self.cells = 0

    def run(self, tick: Tick) -> None:
        if tick.truth is None or tick.cells is None or tick.cells.features is None:
            return
        origin = self.describe(tick)
        if origin.held_back:
            return
        self.seen += 1
        if int(self.seen * self.fraction) == int((self.seen - 1) * self.fraction):
            return
        cells = cells_from_grid(tick.cells.features, tick.truth,
                                num_classes=len(tick.cells.class_names), source="annotation",
                                season=origin.season, time_s=origin.time_s,
                                recording=origin.recording)
        self.frames += 1
        self.cells += len(cells)
        self.memory.add(cells, "annotation")

    def shutdown(self) -> None:
        pass


@dataclass
class Retrain:
    """One retrain the loop started, as it went."""

    reason: str
    requested_t: float  # loop time
    started_wall: float = 0.0
    status: LearnerStatus | None = None
    finished_wall: float | None = None
    swapped_t: float | None = None  # loop time the published version first classified a frame

    @property
    def seconds(self) -> float | None:
        return None if self.finished_wall is None else self.finished_wall - self.started_wall


class LearnerStep:
    """Triggers → a background learner process; never waits for it.

    ``request(reason)`` may be called from any thread (a signal handler, the button's thread).
    While a retrain runs, further requests are dropped (logged). The buffer is saved every
    ``save_period_s`` (so that `gardenbot retrain` sees recent cells) and at shutdown. On
    shutdown a running retrain is cancelled, or — when the input ended and
    ``finish_at_end`` is set (the simulation) — waited for up to ``finish_timeout_s``.
    """

    name = "learner"

    def __init__(
        self, memory: Memory, paths: LearnerPaths, settings: LearnerSettings, *,
        backbone_sha256: str, feature_dim: int, classes: Sequence[str],
        button_factory: Any = None, use_button: bool = True,
        now: Callable[[], datetime] = datetime.now, status_period_s: float = 0.5,
        save_period_s: float = 300.0, finish_at_end: bool = False,
        progress: Callable[[LearnerStatus], None] | None = None,
    ) -> None:
        self.memory = memory
        self.paths = paths
        self.settings = settings
        self.job_fields = {"backbone_sha256": backbone_sha256, "feature_dim": feature_dim,
                           "classes": tuple(classes)}
        self.now = now
        self.status_period_s = status_period_s
        self.retrains: list[Retrain] = []
        self.finish_at_end = finish_at_end
        self.finish = False
        self.finish_timeout_s = 120.0
        self.progress = progress
        self.save_period_s = save_period_s
        self._next_save = time.monotonic() + save_period_s
        self._saver: threading.Thread | None = None
        self._requests: deque[str] = deque()
        self._proc: LearnerProcess | None = None
        self._starter: threading.Thread | None = None
        self._closing = threading.Event()  # set by shutdown: no learner may start after it
        self._next_poll = 0.0
        self._pending_upto = -1
        self.drift = DriftMonitor(settings.triggers) if settings.drift_alarm else None
        self.schedule = ScheduleTrigger(settings.triggers.schedule,
                                        settings.triggers.min_new_samples, now(),
                                        ScheduleGate(self.drift, settings.triggers))
        self._version: str | None = None  # the adapter perception runs (as of the last tick)
        self.button: RetrainButton | None = None
        pin = settings.triggers.button_pin
        if use_button and pin:
            try:
                self.button = RetrainButton(pin, lambda: self.request("button"),
                                            bounce_s=settings.triggers.button_bounce_s,
                                            pin_factory=button_factory)
            except Exception as e:  # gpiozero raises its own zoo when no GPIO is reachable
                log.warning("retrain button on %s unavailable (%s); the schedule, the drift "
                            "alarm and `gardenbot retrain` still work", pin, e)

    # --- requests ------------------------------------------------------------------------

    def request(self, reason: str) -> None:
        self._requests.append(reason)

    def request_with_labels(self, reason: str) -> None:
        """Request a retrain if ``min_new_samples`` new labelled cells wait, as the drift
        alarm does (the bump alarm: robot/runtime/watch.py); else log why not."""
        new, need = self.memory.new_cells, self.settings.triggers.min_new_samples
        if new >= need:
            self.request(reason)
        else:
            log.warning("%s: too few new labelled cells to retrain (%d < %d)", reason, new, need)

    @property
    def busy(self) -> bool:
        """A retrain is asked for (and starts at this step's next tick) or running."""
        return bool(self._requests) or self.running

    @property
    def running(self) -> bool:
        starter = self._starter
        if starter is not None and starter.is_alive():
            return True
        return self._proc is not None and not self._finished()

    @property
    def state(self) -> str:
        if not self.retrains:
            return "idle"
        last = self.retrains[-1]
        return last.status.state if last.status is not None else "starting"

    # --- the step ------------------------------------------------------------------------

    def run(self, tick: Tick) -> None:
        if tick.stop == "end of input" and self.finish_at_end:
            self.finish = True
        t = tick.frame.t if tick.frame is not None else tick.wall_s
        if tick.cells is not None and tick.cells.adapter_version != self._version:
            if self._version is not None:
                self._adapter_changed(tick.cells.adapter_version)
            self._version = tick.cells.adapter_version
        if self.drift is not None and tick.cells is not None:
            alarm = self.drift.update(t, tick.cells.novelty, self.memory.new_cells)
            if alarm is not None:
                if alarm.action == "retrain":
                    self.request("drift")
                else:
                    log.warning("drift alarm: the garden looks new and there are too few new "
                                "labels to retrain (%d < %d); label a few frames",
                                self.memory.new_cells, self.settings.triggers.min_new_samples)
        if tick.index % 10 == 0:
            now = self.now()  # the buffer is counted only when a scheduled time has come
            if self.schedule.is_time(now) and self.schedule.due(
                    now, self.memory.new_cells, self.memory.new_human_cells):
                self.request("schedule")
        while self._requests:
            reason = self._requests.popleft()
            if self.running:
                log.info("retrain requested (%s) while one is running; ignored", reason)
                continue
            self._start(reason, t)
        wall = time.monotonic()
        if self._proc is not None and wall >= self._next_poll:
            self._next_poll = wall + self.status_period_s
            self._poll()
        if wall >= self._next_save and not self.running:
            self._next_save = wall + self.save_period_s
            self._save_in_background()

    def _adapter_changed(self, version: str) -> None:
        """Perception runs another adapter (published, or rolled back by its trial or the
        owner): its novelty has a new reference, so the drift evidence gathered under the old
        one no longer counts; and "new cells" are those *it* was not trained on — after a
        roll-back, the cells its successor learnt are new again."""
        if self.drift is not None:
            self.drift.reset()
        number = version[1:] if version.startswith("v") else version
        if not number.isdigit():
            return
        from robot.adapter.store import AdapterStore

        try:
            state = AdapterStore(self.paths.store).load_state(int(number))
        except GardenbotError as e:
            log.warning("cannot read what adapter %s was trained on (%s); new cells are "
                        "counted as before", version, e)
            return
        self.memory.trained_upto_uid = int(state.info.get("trained_upto_uid", -1))

    def _save_in_background(self) -> None:
        if self._saver is not None and self._saver.is_alive():
            return
        data, path = self.memory.snapshot()[0], self.paths.buffer

        def save() -> None:
            try:
                atomic_write_bytes(path, data)
            except OSError as e:
                log.error("cannot save the replay buffer %s: %s", path, e)

        self._saver = threading.Thread(target=save, name="buffer-save", daemon=True)
        self._saver.start()

    def _start(self, reason: str, t: float) -> None:
        data, self._pending_upto = self.memory.snapshot()
        job = RetrainJob(str(self.paths.buffer), str(self.paths.store),
                         train=self.settings.train, buffer=self.settings.buffer,
                         publish=self.settings.publish, reason=reason, **self.job_fields)
        retrain = Retrain(reason, t, started_wall=time.monotonic())
        self.retrains.append(retrain)
        self._proc = None
        log.info("retrain requested (%s): %d new cells, %d in the buffer", reason,
                 self.memory.new_cells, len(self.memory.buffer))

        def save_and_spawn() -> None:
            try:
                saver = self._saver
                if saver is not None:  # a periodic save finishing later would undo this one
                    saver.join()
                atomic_write_bytes(self.paths.buffer, data)
                if self._closing.is_set():
                    retrain.status = LearnerStatus("cancelled",
                                                   message="shut down before the learner started")
                    retrain.finished_wall = time.monotonic()
                    return
                proc = LearnerProcess(job, self.paths.status, self.settings.process)
                proc.start()
                self._proc = proc
            except Exception as e:  # reported through the retrain's status, never raised
                message = f"cannot start the learner: {type(e).__name__}: {e}"
                retrain.status = LearnerStatus("failed", message=message)
                retrain.finished_wall = time.monotonic()
                log.error("%s", message)

        self._starter = threading.Thread(target=save_and_spawn, name="learner-start",
                                         daemon=True)
        self._starter.start()

    def _finished(self) -> bool:
        last = self.retrains[-1] if self.retrains else None
        return last is not None and last.status is not None and last.status.finished

    def _poll(self) -> None:
        if self._proc is None or not self.retrains:
            return
        retrain = self.retrains[-1]
        if retrain.status is not None and retrain.status.finished:
            return
        status = self._proc.status()
        retrain.status = status
        if status.finished:
            retrain.finished_wall = time.monotonic()
            if status.state == "published":
                self.memory.trained_upto_uid = self._pending_upto
            log.info("retrain (%s) %s after %.1f s: %s", retrain.reason, status.state,
                     retrain.seconds or 0.0, status.message)

    def wait(self, timeout_s: float) -> Retrain | None:
        """Wait for a running retrain to finish (the simulation, after its last frame)."""
        deadline = time.monotonic() + timeout_s
        if self._starter is not None:
            self._starter.join(timeout_s)
        while self._proc is not None and not self._finished() and time.monotonic() < deadline:
            self._poll()
            if self.progress is not None and self.retrains[-1].status is not None:
                self.progress(self.retrains[-1].status)
            time.sleep(0.2)
        self._poll()
        return self.retrains[-1] if self.retrains else None

    def shutdown(self) -> None:
        if self.button is not None:
            self.button.close()
            self.button = None
        if not self.finish:  # asked to finish: let a learner that is being started start
            self._closing.set()
        if self._starter is not None:
            self._starter.join()  # bounded by one buffer write
        if self._saver is not None:
            self._saver.join(10)
        try:
            self.memory.save()
        except GardenbotError as e:
            log.error("%s", e)
        if self._proc is None or self._finished():
            return
        if self.finish:
            self.wait(self.finish_timeout_s)
            if self._finished():
                return
        log.info("cancelling the running retrain")
        status = self._proc.cancel()
        if self.retrains:
            self.retrains[-1].status = status
            self.retrains[-1].finished_wall = time.monotonic()


class QuestionStep:
    """The robot's questions to its owner (robot/learning/questions.py).

    At most once per ``ask_every_s`` of loop time, a frame where it stopped, was unsure or saw
    something novel gives candidate regions — groups of cells that look alike
    (robot/learning/choosing.py); the board keeps the most useful, diverse ones (at most its
    capacity, none like a kind of ground the owner answered already): a new candidate asked,
    an open question it outranks withdrawn. The owner's answers go to the buffer
    (``source="owner"``). Held-back frames are never asked about (their labels would leak into
    training)."""

    name = "questions"

    def __init__(self, board: QuestionBoard, memory: Memory, describe: Describe,
                 min_confidence: float, ask_every_s: float = 20.0, jpeg_quality: int = 80,
                 novel_above: float = 1.0, groups_per_frame: int = MAX_GROUPS,
                 min_cells: int = 3, keep: float = KEEP) -> None:
        self.board = board
        self.memory = memory
        self.describe = describe
        self.min_confidence = min_confidence
        self.ask_every_s = ask_every_s
        self.jpeg_quality = jpeg_quality
        self.novel_above = novel_above
        self.groups_per_frame = groups_per_frame
        self.min_cells = min_cells
        self.keep = keep
        self.owner_cells = 0  # offered to the buffer
        self._next_ask_t = -np.inf

    def collect(self) -> int:
        """Offer the answers given since the last call to the buffer; cells offered."""
        offered = 0
        for answer in self.board.take_answers():
            offered += len(answer.cells)
            taken = self.memory.add(answer.cells, "owner")
            log.info("owner answered %s: %d cells of %s (%d kept by the buffer)",
                     answer.question.id, len(answer.cells), answer.class_name, taken)
        self.owner_cells += offered
        return offered

    def run(self, tick: Tick) -> None:
        self.collect()
        cells, frame = tick.cells, tick.frame
        if cells is None or frame is None or cells.features is None or tick.drive is None:
            return
        if cells.t < self._next_ask_t:
            return
        doubt, kind = cell_doubt(cells.classes, cells.confidence, cells.novelty,
                                 cells.class_names, tick.drive.reason, self.min_confidence,
                                 self.novel_above)
        if not kind.any():
            return
        candidates = frame_candidates(cells.features, doubt, kind, self.groups_per_frame,
                                      self.min_cells, keep=self.keep)
        if not candidates:
            return
        origin = self.describe(tick)
        if origin.held_back:
            return
        self._next_ask_t = cells.t + self.ask_every_s
        open_qs = self.board.open_questions()
        means = np.stack([q.mean for q in open_qs] + [c.mean for c in candidates])
        usefulness = [q.usefulness for q in open_qs] + [c.usefulness for c in candidates]
        known = self.board.known_kinds()
        keep = set(choose_questions(usefulness, means, self.board.capacity,
                                    known if len(known) else None))
        for i, q in enumerate(open_qs):
            if i not in keep:  # outranked by a new one, or like a kind answered meanwhile
                self.board.withdraw(q.id)
        new = [candidates[i - len(open_qs)] for i in sorted(keep) if i >= len(open_qs)]
        if not new:
            return
        import cv2

        ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            return
        for c in new:
            self.board.ask(Question(self.board.new_id(), jpeg.tobytes(), c.region, c.why,
                                    cells.features[c.region].astype(np.float16), time.time(),
                                    origin.season, origin.recording, c.usefulness))

    def shutdown(self) -> None:
        pass
