"""Run each strategy through the stream, in its own fresh process, as the robot's learner would.

Before the strategies run, the parent builds the replay buffer the robot would have before each
step (``ReplayBuffer`` of the default 4 MB and balanced policy, fed every train cell of the
earlier steps in stream order) and saves each as the robot's buffer file. The buffer depends
only on the stream and its seed, never on the strategy, so every strategy sees the same files.

Each strategy then runs in a spawned child (one per strategy, so its peak RSS is its own;
every seed in turn in that process):

    state = LearnerState.initial(classes, C, backbone sha256)
    for step k:   adapter, state = train(name, state, new cells of k, buffer before k,
                                         TrainConfig(strategy=name), seed + k)
                  a[k][j] = evaluate(adapter, test set of step j)  for every j

Strategies that do not replay ignore the buffer (as in the learner). Same data, same seeds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot.common.samples import LabelledCells, make_cells
from robot.learning.config import BufferConfig
from tools.bench.cl_features import FeatureCache, SourceCells
from tools.bench.cl_stream import Source, Step, Stream

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedStream:
    """Everything a strategy run reads, as files: per-source cell caches and buffer snapshots."""

    stream: Stream
    cache_files: dict[str, str]  # source name -> .npz of its cells
    buffer_files: tuple[str, ...]  # per step k: the replay buffer before training step k
    feature_dim: int
    backbone_id: str


@dataclass(frozen=True)
class StrategyJob:
    """One strategy, every seed, in one process (the seeds differ in buffer files only)."""

    strategy: str
    runs: tuple[tuple[int, PreparedStream], ...]  # (seed, its prepared stream)
    overrides: tuple[tuple[str, Any], ...] = ()  # TrainConfig fields; () = the robot's defaults


# --- loading cells -------------------------------------------------------------------------

def load_source(path: str) -> SourceCells:
    with np.load(path, allow_pickle=False) as z:
        return SourceCells(z["features"], z["labels"], z["frame"], z["time_s"])


def train_cells(step: Step, cells: dict[str, SourceCells]) -> LabelledCells:
    """A step's new labelled cells as the robot would store them (season = the step's)."""
    parts = []
    for src in step.train:
        c = cells[src.name]
        parts.append(make_cells(c.features, c.labels, source="annotation", season=step.season,
                                time_s=c.time_s, recording=src.name))
    return LabelledCells.concat(parts)


@dataclass(frozen=True, eq=False)
class EvalSet:
    features: np.ndarray  # (N, C) float16
    labels: np.ndarray  # (N,) uint8
    frame_ids: np.ndarray  # (N,) int64, unique per frame across the set's sources

    @property
    def frames(self) -> int:
        return len(np.unique(self.frame_ids))


def eval_set(sources: Sequence[Source], cells: dict[str, SourceCells]) -> EvalSet:
    feats, labels, frames = [], [], []
    offset = 0
    for src in sources:
        c = cells[src.name]
        feats.append(c.features)
        labels.append(c.labels)
        frames.append(c.frame.astype(np.int64) + offset)
        offset += int(c.frame.max()) + 1 if len(c) else 0
    return EvalSet(np.concatenate(feats), np.concatenate(labels), np.concatenate(frames))


# --- preparing (parent) -----------------------------------------------------------------------

def _buffer_key(stream: Stream, backbone_id: str, variant: str, config: BufferConfig,
                seed: int) -> str:
    from robot.learning.replay_buffer import FORMAT_VERSION

    h = hashlib.sha256(json.dumps({
        "backbone": backbone_id, "variant": variant, "seed": seed,
        "format": FORMAT_VERSION,  # a new encoding keeps other cells within the same bytes
        "config": [config.capacity_bytes, config.policy, config.validation_fraction],
        "steps": [[s.name, s.season, [src.fingerprint() for src in s.train]]
                  for s in stream.steps],
    }, sort_keys=True).encode())
    return h.hexdigest()[:16]


def build_buffers(stream: Stream, cells: dict[str, SourceCells], folder: Path, feature_dim: int,
                  backbone_id: str, config: BufferConfig, seed: int) -> list[Path]:
    """Buffer files before each step; reused when already in ``folder`` (same key)."""
    from robot.learning.replay_buffer import ReplayBuffer

    paths = [folder / f"before_{s.index}_{s.name}.gbrb" for s in stream.steps]
    if all(p.is_file() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    buf = ReplayBuffer(feature_dim, backbone_id, stream.classes, config, seed=seed)
    for step, path in zip(stream.steps, paths, strict=True):
        buf.save(path)
        if step is stream.steps[-1]:
            break
        t0 = time.perf_counter()
        new = train_cells(step, cells)
        kept = buf.add(new)
        log.info("replay buffer after %s: %d of %d new cells kept, %d cells, %d bytes (%.1f s)",
                 step.name, kept, len(new), len(buf), buf.nbytes, time.perf_counter() - t0)
    return paths


def prepare(stream: Stream, cache: FeatureCache, work_dir: Path, config: BufferConfig,
            seeds: Sequence[int]) -> tuple[dict[int, PreparedStream], dict[str, SourceCells]]:
    """Cell features of every source (once) and, per seed, the buffer files before each step
    (the buffer's selection depends on its seed)."""
    cells = {src.name: cache.cells(src) for src in stream.sources()}
    bb = cache.backbone
    files = {s.name: str(cache.path(s)) for s in stream.sources()}
    prepared = {}
    for seed in seeds:
        key = _buffer_key(stream, bb.backbone_id, bb.variant, config, seed)
        buffers = build_buffers(stream, cells, work_dir / f"buffers-{key}", bb.feature_dim,
                                bb.backbone_id, config, seed)
        prepared[seed] = PreparedStream(stream, files, tuple(str(p) for p in buffers),
                                        bb.feature_dim, bb.backbone_id)
    return prepared, cells


# --- one strategy (child) -------------------------------------------------------------------

def _vm_hwm_mb() -> float:
    """This process's peak resident set so far (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _scores(s: dict[str, Any]) -> dict[str, float]:
    return {"accuracy": s["accuracy"], "mean_iou": s["mean_iou"],
            "balanced_accuracy": s["balanced_accuracy"]}


def _run_seed(strategy: str, seed: int, p: PreparedStream, tests: list[EvalSet],
              config: Any) -> dict[str, Any]:
    from robot.learning.learner import LearnerState, evaluate, train
    from robot.learning.learner.strategies import STRATEGIES
    from robot.learning.replay_buffer import ReplayBuffer

    stream = p.stream
    uses_replay = STRATEGIES[strategy].uses_replay
    state = LearnerState.initial(stream.classes, p.feature_dim, p.backbone_id)
    t_steps = len(stream.steps)
    mats = {k: np.zeros((t_steps, t_steps)) for k in ("accuracy", "mean_iou",
                                                      "balanced_accuracy")}
    steps_out = []
    for k, step in enumerate(stream.steps):
        # a step's train cells are loaded when it comes and dropped after
        new = train_cells(step, {src.name: load_source(p.cache_files[src.name])
                                 for src in step.train})
        buffer = ReplayBuffer.load(p.buffer_files[k], backbone_sha256=p.backbone_id,
                                    feature_dim=p.feature_dim)
        t0 = time.perf_counter()
        adapter, state = train(strategy, state, new, buffer, config, seed=seed + k)
        update_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        for j, ts in enumerate(tests):
            s = _scores(evaluate(adapter, ts.features, ts.labels, frame_ids=ts.frame_ids))
            for name, v in s.items():
                mats[name][k, j] = v
        steps_out.append({
            "step": step.name, "update_s": round(update_s, 3),
            "train_s": state.info.get("train_s"), "eval_s": round(time.perf_counter() - t1, 3),
            "new_cells": int(state.info.get("new_cells", len(new))),
            "replay_cells": int(state.info.get("replay_cells", 0)),
            "buffer_cells": len(buffer) if uses_replay else 0,
            "buffer_bytes": buffer.nbytes if uses_replay else 0,
            "state_bytes": len(state.to_bytes()),
            "adapter_bytes": len(adapter.onnx_bytes),
        })
        del buffer, new
    return {
        "strategy": strategy,
        "seed": seed,
        "matrices": {k: v.tolist() for k, v in mats.items()},
        "steps": steps_out,
        "cost": {
            "update_s_total": round(sum(s["update_s"] for s in steps_out), 3),
            "update_s_median": round(float(np.median([s["update_s"] for s in steps_out])), 3),
            "buffer_bytes_max": max(s["buffer_bytes"] for s in steps_out),
            "state_bytes_max": max(s["state_bytes"] for s in steps_out),
        },
    }


def run_strategy(job: StrategyJob) -> list[dict[str, Any]]:
    """Train ``job.strategy`` through the stream once per seed: per seed, the matrices and
    what it cost; the process's peak RSS (all seeds) is in every seed's cost."""
    t_start = time.perf_counter()
    from robot.learning.learner import TrainConfig

    stream = job.runs[0][1].stream
    files = job.runs[0][1].cache_files
    # The test sets stay loaded for every step and seed.
    tests = [eval_set(s.test, {src.name: load_source(files[src.name]) for src in s.test})
             for s in stream.steps]
    config = TrainConfig(strategy=job.strategy, **dict(job.overrides))
    baseline_rss = _vm_hwm_mb()
    out = [_run_seed(job.strategy, seed, p, tests, config) for seed, p in job.runs]
    peak = _vm_hwm_mb()
    for r in out:
        r["cost"].update(peak_rss_mb=round(peak, 1), baseline_rss_mb=round(baseline_rss, 1),
                         learner_rss_delta_mb=round(peak - baseline_rss, 1),
                         process_wall_s=round(time.perf_counter() - t_start, 2))
    return out


def run_all(jobs: Sequence[StrategyJob], workers: int = 1,
            done: Callable[[list[dict[str, Any]]], None] | None = None
            ) -> list[dict[str, Any]]:
    """Every job in a fresh spawned process (``workers`` at a time); per-seed results."""
    ctx = mp.get_context("spawn")
    results: list[dict[str, Any]] = []
    with ctx.Pool(processes=max(1, workers), maxtasksperchild=1) as pool:
        for r in pool.imap_unordered(run_strategy, jobs):
            results.extend(r)
            if done is not None:
                done(r)
    return results
