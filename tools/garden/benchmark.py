"""The seasonal benchmark set: a stream of five steps, spring -> summer -> autumn -> winter ->
next spring, each with train recordings of the training gardens and test recordings of the
held-out gardens, and a manifest (``manifest.json``) that lists them.

Recordings are generated in parallel worker processes (one recording per task); the manifest is
written last and atomically, so a folder with a manifest is a complete set.

The manifest is read back only through :func:`load_manifest` (the raw, validated manifest) or
:func:`read_manifest` (the continual-learning stream built on it), so every tool that takes a
benchmark set refuses a bad one with the same clear :class:`BenchError`.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from robot.common.atomic import atomic_write_json
from robot.common.errors import GardenbotError
from tools.garden.generate import GENERATOR_NAME, GENERATOR_VERSION, RecordingSpec
from tools.garden.layout import TEST_GARDENS, TRAIN_GARDENS

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "gardenbot-benchmark"
MANIFEST_VERSION = 1
ROLES = ("train", "test")

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


class BenchError(GardenbotError, ValueError):
    """A benchmark input is missing or malformed (manifest, data folder, cache). Names the file."""


# --- writing ------------------------------------------------------------------------------

# a step folder of a set, e.g. "0_spring", "4_next_spring"; inside: train/ and test/ of gNN
_STEP_DIR = re.compile(r"^\d+_[a-z_]+$")
_GARDEN_DIR = re.compile(r"^g\d+$")
# the temporary file of the manifest's atomic write, left if the run died during it
_MANIFEST_TMP = re.compile(r"^\.manifest\.json\..+\.tmp$")


def _is_unfinished_set(root: Path) -> bool:
    """True if ``root`` holds only step folders of a benchmark set (N_step/{train,test}/gNN):
    what an interrupted `gardenbot synth --benchmark` leaves behind, and nothing else."""
    for step in root.iterdir():
        if step.is_file() and _MANIFEST_TMP.match(step.name):
            continue
        if not (step.is_dir() and _STEP_DIR.match(step.name)):
            return False
        for role in step.iterdir():
            if not (role.is_dir() and role.name in ROLES):
                return False
            if not all(g.is_dir() and _GARDEN_DIR.match(g.name) for g in role.iterdir()):
                return False
    return True


def check_target(root: Path, overwrite: bool) -> None:
    """Refuse to write over something that is not an earlier benchmark set.

    With ``overwrite`` a folder left by an interrupted run (step folders, no manifest yet) is
    cleared, so a rerun needs no manual deletion; anything else stays refused.
    """
    if not root.exists():
        return
    if not root.is_dir():
        raise GardenbotError(f"{root}: exists and is not a folder")
    if (root / MANIFEST).exists():
        if not overwrite:
            raise GardenbotError(f"{root}: a benchmark set is already here (use --overwrite)")
        return
    if not any(root.iterdir()):
        return
    if not _is_unfinished_set(root):
        raise GardenbotError(f"{root}: folder is not empty and holds no benchmark set; "
                             "choose an empty or new folder")
    if not overwrite:
        raise GardenbotError(f"{root}: an unfinished benchmark set (no manifest) is here; use "
                             "--overwrite to replace it")
    for item in root.iterdir():
        if item.is_dir():
            shutil.rmtree(item)
        else:
            item.unlink()


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


# --- reading ------------------------------------------------------------------------------

def _require(cond: bool, where: Path, msg: str) -> None:
    if not cond:
        raise BenchError(f"{where}: {msg}")


def _check_recording(root: Path, path: Path, step: dict[str, Any], r: Any) -> dict[str, Any]:
    """One recording entry of a step, checked, with ``year`` filled in from its step."""
    name = step["name"]
    _require(isinstance(r, dict), path, f"step {name!r}: a recording entry is not an object")
    rel, role, garden, season = r["path"], r["role"], r["garden"], r["season"]
    _require(all(isinstance(v, str) for v in (rel, role, garden, season)), path,
             f"step {name!r}: recording {rel!r}: path, role, garden and season must be text")
    _require(role in ROLES, path, f"step {name!r}: recording {rel!r} has role {role!r}; "
             "expected train or test")
    year = r.get("year", step.get("year", 0))
    _require(isinstance(year, int), path, f"step {name!r}: recording {rel!r}: year must be a "
             "whole number")
    _require((root / rel / "meta.json").is_file(), path,
             f"step {name!r}: recording {root / rel} is missing")
    return {**r, "year": year}


def load_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a benchmark set, checked: a clear BenchError for anything malformed.

    Checks what every reader relies on: the format, a non-empty list of uniquely named steps,
    each with a season and recordings that carry path, role (train|test), garden, season and
    year and exist on disk, and that no train recording is of a held-out (test) garden.
    """
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise BenchError(f"{path}: no benchmark manifest there (make a set with `gardenbot "
                         "synth --benchmark DIR`)")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BenchError(f"{path}: not valid JSON: {e}") from None
    fmt = m.get("format") if isinstance(m, dict) else None
    _require(fmt == MANIFEST_FORMAT, path, f"not a gardenbot benchmark manifest (format {fmt!r})")
    steps_in = m.get("steps")
    _require(isinstance(steps_in, list) and len(steps_in) >= 1, path, "needs a list of 'steps'")
    steps = []
    for k, s in enumerate(steps_in):
        try:
            _require(isinstance(s["name"], str) and isinstance(s["season"], str)
                     and isinstance(s["recordings"], list), path,
                     f"step {k}: name and season must be text, recordings a list")
            recs = [_check_recording(root, path, s, r) for r in s["recordings"]]
        except (KeyError, TypeError) as e:
            raise BenchError(f"{path}: step {k} lacks or garbles a field: {e!r}") from None
        steps.append({**s, "recordings": recs})
    names = [s["name"] for s in steps]
    _require(len(set(names)) == len(names), path, f"step names repeat: {names}")
    gardens = m.get("gardens") or {}
    _require(isinstance(gardens, dict), path, "'gardens' must map train and test to lists")
    test_gardens = set(gardens.get("test") or ())
    for s in steps:
        for r in s["recordings"]:
            # a manifest that contradicts itself would leak a held-out garden into training
            _require(r["role"] != "train" or r["garden"] not in test_gardens, path,
                     f"garden {r['garden']} is both train and test")
    return {**m, "steps": steps}


