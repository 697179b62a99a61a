"""The learner runs in its own low-priority process, so the control loop keeps its rate.

    proc = LearnerProcess(job, status_path)
    proc.start()
    ...
    proc.status()      # LearnerStatus: state, stage, progress 0..1, message, version
    proc.cancel()      # polite request, then a kill after cancel_grace_s
    proc.wait()

The child is started with ``spawn`` (a fresh interpreter: no copied onnxruntime threads, torch
imported only there), lowers its priority with ``os.nice``, limits torch to ``torch_threads``,
holds the store's learner lock (``start()`` refuses with RetrainBusy, a LearnerError, while
another retrain holds it), and reports through a JSON status file written atomically — which
anything can read, even after the parent restarts. A crash or power cut mid-way leaves the
store on its last good adapter: the store only ever switches to a complete, verified version.
Torch-free in the parent.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from robot.common.atomic import atomic_write_json
from robot.common.errors import GardenbotError, LearnerCancelled, LearnerError
from robot.learning.config import LearnerProcessConfig
from robot.learning.retrain import RetrainBusy, RetrainJob, learner_lock, run_retrain_locked

log = logging.getLogger(__name__)

FINAL_STATES = ("published", "rejected", "failed", "cancelled")
_REPORT_EVERY_S = 0.5
_EXIT_BUSY = 3  # the child lost the learner lock to another retrain


@dataclass(frozen=True)
class LearnerStatus:
    state: str  # starting, running, published, rejected, failed, cancelled
    stage: str = ""  # loading, training, exporting, validating, ...
    progress: float = 0.0  # 0..1
    message: str = ""
    pid: int | None = None
    started_at: float | None = None  # unix seconds
    updated_at: float | None = None
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


def read_status(path: str | os.PathLike[str]) -> LearnerStatus | None:
    """The status file's content, or None if there is none (or it is unreadable)."""
    try:
        data = json.loads(Path(path).read_text())
        return LearnerStatus(**data)
    except (OSError, ValueError, TypeError):
        return None


class _StatusWriter:
    def __init__(self, path: str, started_at: float) -> None:
        self.path, self.started_at = path, started_at
        self._last = 0.0
        self._stage = ""

    def write(self, state: str, stage: str = "", progress: float = 0.0, message: str = "",
              result: dict[str, Any] | None = None, force: bool = True) -> None:
        now = time.time()
        if not force and stage == self._stage and now - self._last < _REPORT_EVERY_S:
            return
        self._last, self._stage = now, stage
        status = LearnerStatus(state, stage, round(progress, 3), message, os.getpid(),
                               self.started_at, now, result or {})
        try:
            atomic_write_json(self.path, asdict(status))
        except OSError as e:  # a status update is never worth failing a retrain for
            log.warning("cannot write learner status %s: %s", self.path, e)


def _child_main(job: RetrainJob, status_path: str, cancel: Any, nice_increment: int,
                log_level: int) -> None:
    """Entry point of the learner process."""
    logging.basicConfig(level=log_level,
                        format="%(asctime)s %(levelname)-7s learner: %(message)s")
    writer = _StatusWriter(status_path, time.time())
    os.nice(nice_increment)
    try:
        with learner_lock(job.store_dir):
            _retrain(job, writer, cancel)
    except RetrainBusy as e:
        # Another retrain took the lock between the parent's probe and here. The status file
        # is the winner's now: not ours to write. The parent reads the exit code instead.
        log.error("%s", e)
        raise SystemExit(_EXIT_BUSY) from None


def _retrain(job: RetrainJob, writer: _StatusWriter, cancel: Any) -> None:
    """The retrain itself, with the learner lock held; the outcome goes to the status file."""
    writer.write("running", "starting")
    try:
        result = run_retrain_locked(
            job,
            report=lambda f, stage: writer.write("running", stage, f, force=False),
            should_stop=cancel.is_set)
    except LearnerCancelled:
        writer.write("cancelled", message="cancelled; the current adapter is unchanged")
        raise SystemExit(2) from None
    except GardenbotError as e:
        writer.write("failed", message=str(e))
        raise SystemExit(1) from None
    except Exception as e:
        writer.write("failed", message=f"{type(e).__name__}: {e}")
        raise
    result["niceness"] = os.nice(0)
    state = "published" if result["published"] else "rejected"
    writer.write(state, state, 1.0, result["reason"], result)


class LearnerProcess:
    """One retrain in a background process."""

    def __init__(self, job: RetrainJob, status_path: str | os.PathLike[str],
                 config: LearnerProcessConfig | None = None) -> None:
        self.job = job
        self.status_path = str(status_path)
        self.config = config or LearnerProcessConfig()
        ctx = multiprocessing.get_context("spawn")
        self._cancel = ctx.Event()
        self._process = ctx.Process(
            target=_child_main, name="gardenbot-learner",
            args=(job, self.status_path, self._cancel, self.config.nice_increment,
                  logging.getLogger().getEffectiveLevel()),
            daemon=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        """Start the learner; RetrainBusy (a LearnerError) if another retrain of the same store
        is running — then nothing is written, the status file stays the running retrain's."""
        with learner_lock(self.job.store_dir):
            pass  # a probe: the child takes the lock for real
        Path(self.status_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.status_path, asdict(LearnerStatus("starting",
                                                                 started_at=time.time())))
        self._process.start()
        log.info("learner process %d started (%s, %s)", self._process.pid,
                 self.job.train.strategy, self.job.reason)

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def status(self) -> LearnerStatus:
        """The latest status; a process that died without a final word is reported failed."""
        # Liveness first, then the file: a child that writes its final status and exits
        # between the two looks gone, and its final word is read after it.
        gone = self._process.pid is not None and not self.is_alive()
        status = self._own_status() or LearnerStatus("starting")
        if gone and not status.finished:
            return self._died(status)
        return status

    def _own_status(self) -> LearnerStatus | None:
        """The status file if this learner (or its start()) wrote it, else None."""
        status = read_status(self.status_path)
        if status is None or status.pid not in (None, self._process.pid):
            return None  # none yet, or the file of a retrain that won the lock race
        return status

    def _died(self, last: LearnerStatus) -> LearnerStatus:
        code = self._process.exitcode
        why = ("another retrain is already running" if code == _EXIT_BUSY else
               f"learner process died (exit code {code})")
        return LearnerStatus("failed", last.stage, last.progress,
                             f"{why}; the current adapter is unchanged", self._process.pid,
                             last.started_at, time.time())

    def wait(self, timeout_s: float | None = None) -> LearnerStatus:
        self._process.join(timeout_s)
        if self.is_alive():
            raise LearnerError(f"learner process still running after {timeout_s} s")
        return self.status()

    def cancel(self) -> LearnerStatus:
        """Ask the learner to stop; kill it if it has not after ``cancel_grace_s``."""
        self._cancel.set()
        self._process.join(self.config.cancel_grace_s)
        if self.is_alive():
            log.warning("learner did not stop within %.1f s; killing it",
                        self.config.cancel_grace_s)
            self._kill()
            last = self._own_status() or LearnerStatus("starting")
            return self._record_final(LearnerStatus(
                "cancelled", last.stage, last.progress,
                "killed after cancel; the current adapter is unchanged", self._process.pid,
                last.started_at, time.time()))
        return self.status()

    def kill(self) -> None:
        """Hard stop (as a power cut would). Safe: the store is never left half-switched."""
        if self._kill():
            self._record_final(self.status())

    def _kill(self) -> bool:
        """Kill the child if it is alive; True if it was."""
        if not self.is_alive():
            return False
        self._process.kill()
        self._process.join()
        return True

    def _record_final(self, final: LearnerStatus) -> LearnerStatus:
        """Write ``final`` for a child that is gone without writing a final status itself, so
        the file does not say "running" for ever; the child's own final word wins."""
        own = self._own_status()
        if own is not None and own.finished:
            return own
        if own is not None or read_status(self.status_path) is None:  # never another's file
            try:
                atomic_write_json(self.status_path, asdict(final))
            except OSError as e:
                log.warning("cannot write learner status %s: %s", self.status_path, e)
        return final
