"""One retrain job, start to finish: buffer -> train -> validate -> publish (or not).

Runs inside the learner process (robot/learning/process.py) or in the foreground from the CLI.
Imports torch (through robot.learning.learner) only when a job runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from robot.adapter.state import LearnerState, grow_classes
from robot.adapter.store import AdapterStore
from robot.common.errors import GardenbotError, LearnerError
from robot.learning.config import BufferConfig, PublishConfig, TrainConfig
from robot.learning.replay_buffer import ReplayBuffer

log = logging.getLogger(__name__)

Report = Callable[[float, str], None]

LOCK_FILE = ".learner.lock"  # in the store folder: one retrain per store at a time


class RetrainBusy(LearnerError):
    """Another retrain holds the store's learner lock."""


@contextlib.contextmanager
def learner_lock(store_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the store's learner lock, or raise RetrainBusy at once (never waits).

    An flock dies with its holder, so a crashed or killed learner never leaves it stuck.
    """
    path = Path(store_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainBusy(f"{store_dir}: another retrain is already running") from None
        yield  # closing the file releases the lock


@dataclass(frozen=True)
class RetrainJob:
    """What to retrain, from where, to where. Picklable: it crosses into the learner process.

    ``backbone_sha256``, ``feature_dim`` and ``classes`` default to the buffer's; given, they
    must match it (the classes may extend the buffer's: a class added later). ``buffer``
    defaults to the capacity, policy and validation fraction stored in the buffer's file.
    """

    buffer_path: str
    store_dir: str
    train: TrainConfig = field(default_factory=TrainConfig)
    buffer: BufferConfig | None = None
    publish: PublishConfig = field(default_factory=PublishConfig)
    seed: int = 0
    reason: str = "cli"  # cli, button, schedule, drift
    backbone_sha256: str | None = None
    feature_dim: int | None = None
    classes: tuple[str, ...] | None = None
    force_publish: bool = False


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def parent_state(store: AdapterStore, buffer: ReplayBuffer) -> tuple[LearnerState, int | None]:
    """The current version's learner state, or a fresh one (first retrain, or the current
    version cannot be used — then the new adapter is judged without it)."""
    try:
        version = store.current_version()
        if version is not None:
            return store.load_state(version), version
    except GardenbotError as e:
        log.warning("starting from scratch: the current adapter's state is unusable (%s)", e)
    return LearnerState.initial(buffer.classes, buffer.feature_dim, buffer.backbone_sha256), None


def run_retrain(job: RetrainJob, report: Report | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Run ``job``; returns what happened (published or not, version, scores, counts, times).

    Raises RetrainBusy (another retrain holds the store's learner lock), LearnerError (nothing
    new to learn, empty buffer), LearnerCancelled, ReplayBufferError, StoreError, ModelError,
    SampleError — in every case the store's current adapter is what it was before.
    """
    with learner_lock(job.store_dir):
        return run_retrain_locked(job, report, should_stop)


def run_retrain_locked(job: RetrainJob, report: Report | None = None,
                       should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """:func:`run_retrain` for a caller that already holds :func:`learner_lock`."""
    from robot.learning.learner import train  # torch: only in the process that trains

    report = report or (lambda fraction, stage: None)
    t0 = time.perf_counter()
    report(0.0, "loading")
    buffer = ReplayBuffer.load(job.buffer_path, backbone_sha256=job.backbone_sha256,
                               feature_dim=job.feature_dim, config=job.buffer)
    if job.classes is not None:
        buffer.extend_classes(job.classes, job.buffer_path)
    if len(buffer) == 0:
        raise LearnerError(f"{job.buffer_path}: the replay buffer is empty; nothing to train on")
    store = AdapterStore(job.store_dir, backbone_sha256=buffer.backbone_sha256,
                         feature_dim=buffer.feature_dim)
    store.clean_temporary()
    state, parent_version = parent_state(store, buffer)
    state = grow_classes(state, buffer.classes)
    train_cells, val_cells = buffer.split()
    upto = int(state.info.get("trained_upto_uid", -1))
    is_new = train_cells.uid > upto
    new, old = train_cells.take(is_new), train_cells.take(~is_new)
    log.info("retrain (%s, %s): %d new and %d earlier cells, %d held out; parent version %s",
             job.train.strategy, job.reason, len(new), len(old), len(val_cells), parent_version)
    adapter, new_state = train(
        job.train.strategy, state, new, old, job.train, job.seed,
        progress=lambda f, stage: report(0.05 + 0.85 * f, stage), should_stop=should_stop)
    train_s = time.perf_counter() - t0
    report(0.9, "validating")
    decision = store.publish(
        adapter, new_state, val_cells, margin=job.publish.margin, force=job.force_publish,
        drivable_margin=job.publish.drivable_margin, new_after_uid=upto,
        meta={
            "reason": job.reason,
            "seed": job.seed,
            "data_counts": {"new": len(new), "replay": len(old), "validation": len(val_cells),
                            "buffer_classes": buffer.class_counts(),
                            "buffer_seasons": buffer.season_counts()},
            "train_config": asdict(job.train),
            "train_s": round(train_s, 3),
        })
    if decision.published:
        store.prune(job.publish.keep_versions)
    report(1.0, "published" if decision.published else "rejected")
    return {
        "published": decision.published,
        "version": decision.version,
        "parent_version": parent_version,
        "reason": decision.reason,
        "candidate_score": decision.candidate_score,
        "current_score": decision.current_score,
        "new_cells": len(new),
        "replay_cells": len(old),
        "validation_cells": len(val_cells),
        "strategy": job.train.strategy,
        "train_s": round(train_s, 3),
        "total_s": round(time.perf_counter() - t0, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
