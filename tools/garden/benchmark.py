"""The seasonal benchmark set: a stream of five steps, spring -> summer -> autumn -> winter ->
next spring, each with train recordings of the training gardens and test recordings of the
held-out gardens, and a manifest (``manifest.json``) that lists them.

Recordings are generated in parallel worker processes (one recording per task); the manifest is
written last and atomically, so a folder with a manifest is a complete set.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from robot.atomic import atomic_write_json
from robot.errors import GardenbotError
from tools.garden.generate import GENERATOR_NAME, GENERATOR_VERSION, RecordingSpec
from tools.garden.layout import TEST_GARDENS, TRAIN_GARDENS

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "gardenbot-benchmark"
MANIFEST_VERSION = 1

# (step name, season, year): the continual-learning stream
STEPS: tuple[tuple[str, str, int], ...] = (
    ("spring", "spring", 0),
    ("summer", "summer", 0),
    ("autumn", "autumn", 0),
    ("winter", "winter", 0),
    ("next_spring", "spring", 1),
)


@dataclass(frozen=True)
class BenchmarkPlan:
    seconds: float
    fps: float
    label_every: int
    train_gardens: tuple[str, ...]
    test_gardens: tuple[str, ...]
    seed: int
    quick: bool

    def recordings(self) -> list[tuple[int, str, str, RecordingSpec]]:
        """(step index, step name, relative path, spec) for every recording in the set."""
        out = []
        for k, (name, season, year) in enumerate(STEPS):
            for role, gardens in (("train", self.train_gardens), ("test", self.test_gardens)):
                for g in gardens:
                    spec = RecordingSpec(g, season, self.seconds, self.fps, seed=self.seed,
                                         year=year, label_every=self.label_every)
                    out.append((k, name, f"{k}_{name}/{role}/{g}", spec))
        return out

    @property
    def frame_count(self) -> int:
        return sum(spec.frame_count for *_, spec in self.recordings())


def full_plan(seed: int = 0) -> BenchmarkPlan:
    """The standard set: 16 s per recording at 10 fps, labels on every 2nd frame (6,400 frames)."""
    return BenchmarkPlan(16.0, 10.0, 2, TRAIN_GARDENS, TEST_GARDENS, seed, quick=False)


def quick_plan(seed: int = 0) -> BenchmarkPlan:
    """A CI-sized set: two training gardens and one held-out garden, 3 s each (450 frames)."""
    return BenchmarkPlan(3.0, 10.0, 2, TRAIN_GARDENS[:2], TEST_GARDENS[:1], seed, quick=True)


def check_target(root: Path, overwrite: bool) -> None:
    """Refuse to write over something that is not an earlier benchmark set."""
    if not root.exists():
        return
    if not root.is_dir():
        raise GardenbotError(f"{root}: exists and is not a folder")
    if (root / MANIFEST).exists():
        if not overwrite:
            raise GardenbotError(f"{root}: a benchmark set is already here (use --overwrite)")
        return
    if any(root.iterdir()):
        raise GardenbotError(f"{root}: folder is not empty and holds no benchmark set; "
                             "choose an empty or new folder")


_counter = None  # frames written, shared with the parent for the progress bar


def _init_worker(counter) -> None:
    global _counter
    _counter = counter
    import cv2

    cv2.setNumThreads(1)  # one process per core already


def _bump(n: int) -> None:
    with _counter.get_lock():
        _counter.value += n


def _run_one(task: tuple[str, RecordingSpec, bool]) -> dict[str, Any]:
    path, spec, overwrite = task
    from tools.garden.generate import write_recording

    return write_recording(spec, path, overwrite=overwrite, progress=_bump)


def write_benchmark(
    root: str | os.PathLike[str], plan: BenchmarkPlan, jobs: int | None = None,
    overwrite: bool = False, show_progress: bool = True,
) -> dict[str, Any]:
    """Generate every recording of ``plan`` under ``root`` and write the manifest."""
    from tqdm import tqdm

    root = Path(root)
    check_target(root, overwrite)
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).unlink(missing_ok=True)  # the set is incomplete until the end
    items = plan.recordings()
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(items)))
    # spawn, not fork: a forked child inherits OpenCV's thread pool mid-state and can hang
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    tasks = [(str(root / rel), spec, overwrite) for _, _, rel, spec in items]
    started = time.perf_counter()
    bar = tqdm(total=plan.frame_count, unit="frame", desc="benchmark set",
               disable=not show_progress)
    with ctx.Pool(jobs, initializer=_init_worker, initargs=(counter,)) as pool:
        pending = pool.map_async(_run_one, tasks, chunksize=1)
        while not pending.ready():
            pending.wait(0.2)
            bar.update(counter.value - bar.n)
        summaries = pending.get()
    bar.update(counter.value - bar.n)
    bar.close()
    elapsed = time.perf_counter() - started
    manifest = _manifest(root, plan, items, summaries, elapsed, jobs)
    atomic_write_json(root / MANIFEST, manifest)
    return manifest


def _manifest(root: Path, plan: BenchmarkPlan, items, summaries, elapsed: float,
              jobs: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for k, (name, season, year) in enumerate(STEPS):
        recs = []
        for (step, _n, rel, _spec), summary in zip(items, summaries, strict=True):
            if step != k:
                continue
            recs.append({"path": rel, "garden": summary["garden"], "role": summary["role"],
                         "season": summary["season"], "year": summary["year"],
                         "seed": summary["seed"], "frames": summary["frames"],
                         "labelled_frames": summary["labelled_frames"]})
        steps.append({"index": k, "name": name, "season": season, "year": year,
                      "recordings": recs})
    frames = sum(s["frames"] for s in summaries)
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": plan.quick,
        "seed": plan.seed,
        "fps": plan.fps,
        "seconds_per_recording": plan.seconds,
        "label_every": plan.label_every,
        "gardens": {"train": list(plan.train_gardens), "test": list(plan.test_gardens)},
        "steps": steps,
        "totals": {"recordings": len(summaries), "frames": frames,
                   "labelled_frames": sum(s["labelled_frames"] for s in summaries)},
        "generation": {"seconds": round(elapsed, 2), "processes": jobs,
                       "frames_per_s": round(frames / max(elapsed, 1e-9), 1)},
    }
