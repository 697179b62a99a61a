"""`gardenbot bench cl`: the seasonal continual-learning benchmark (docs/bench.md).

Every learner strategy goes through the same stream (spring -> summer -> autumn -> winter ->
next spring on the synthetic garden set; green -> turning -> autumn on real YCOR images with
``--real``), on the same frozen features with the same seeds, trained with the learner's own
``train()`` and the robot's 4 MB replay buffer, and evaluated after each step on the held-out
test set of every step. Writes report.md, results.json and PNG plots into --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from robot.learning.config import STRATEGY_NAMES, BufferConfig, TrainConfig
from tools.bench.cl_results import acceptance, aggregate, best_strategies
from tools.bench.cl_stream import BenchError, Stream, read_manifest
from tools.bench.verdict import exit_status, verdict_line

log = logging.getLogger(__name__)

DEFAULT_DATA = Path("runs/bench-data")
DEFAULT_CACHE = Path("runs/cache/bench-cl")

DEFAULT_SEEDS = 3  # 1 with --quick


# --- inputs -------------------------------------------------------------------------------

def synthetic_set(benchmark: Path | None, quick: bool) -> tuple[Path, float]:
    """The benchmark folder to use; made with `gardenbot synth` when absent (returns the
    seconds that took, 0 if it was there)."""
    if benchmark is not None:
        return benchmark, 0.0
    root = DEFAULT_DATA / ("quick" if quick else "full")
    if (root / "manifest.json").is_file():
        return root, 0.0
    log.info("no benchmark set at %s: generating it with `gardenbot synth --benchmark`", root)
    cmd = [sys.executable, "-m", "robot.commands.gardenbot", "-q", "synth", "--benchmark",
           str(root), "--no-progress", *(["--quick"] if quick else [])]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"generating the benchmark set failed ({shlex.join(cmd)}): "
                         f"{done.stderr.strip()[-800:]}")
    return root, time.perf_counter() - t0


BUFFER_PREFIX = "buffer."  # ``--set buffer.capacity_bytes=N``: a BufferConfig field


def split_buffer_overrides(items: list[str]) -> tuple[list[str], dict[str, Any]]:
    """The ``buffer.KEY=VALUE`` items as BufferConfig overrides, and the rest (TrainConfig's)."""
    fields = {f.name for f in dataclasses.fields(BufferConfig)}
    rest: list[str] = []
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key.startswith(BUFFER_PREFIX):
            rest.append(item)
            continue
        key = key.removeprefix(BUFFER_PREFIX)
        if not sep or key not in fields:
            raise BenchError(f"--set {item!r}: expected buffer.KEY=VALUE with KEY one of "
                             f"{', '.join(sorted(fields))}")
        kind = type(getattr(BufferConfig(), key))
        try:
            out[key] = kind(value)
        except ValueError:
            raise BenchError(f"--set {item!r}: {value!r} is not a {kind.__name__}") from None
    BufferConfig(**out)  # validates (ConfigError names the key)
    return rest, out


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` TrainConfig overrides (for investigating; the default run has none)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in fields or key == "strategy":
            keys = ", ".join(f for f in fields if f != "strategy")
            raise BenchError(f"--set {item!r}: expected KEY=VALUE with KEY a TrainConfig field "
                             f"other than strategy ({keys})")
        kind = type(getattr(TrainConfig(), key))
        try:
            out[key] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
        except ValueError:
            raise BenchError(f"--set {item!r}: {value!r} is not a {kind.__name__}") from None
    TrainConfig(**out)  # validates (ConfigError names the key)
    return out


def parse_strategies(text: str | None) -> list[str]:
    if not text:
        return list(STRATEGY_NAMES)
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in STRATEGY_NAMES]
    if unknown or not names:
        raise BenchError(f"unknown strategies {unknown}; choose from {', '.join(STRATEGY_NAMES)}")
    return list(dict.fromkeys(names))


# --- results ------------------------------------------------------------------------------

def stream_summary(stream: Stream, cells: dict[str, Any]) -> dict[str, Any]:
    k = len(stream.classes)
    steps = []
    for s in stream.steps:
        row: dict[str, Any] = {"name": s.name, "season": s.season}
        for role, sources in (("train", s.train), ("test", s.test)):
            parts = [cells[src.name] for src in sources]
            labels = np.concatenate([p.labels for p in parts])
            row[f"{role}_sources"] = len(sources)
            row[f"{role}_frames"] = sum(p.frames for p in parts)
            row[f"{role}_cells"] = len(labels)
            counts = np.bincount(labels, minlength=k)
            row[f"{role}_class_share"] = {c: round(float(n) / max(len(labels), 1), 4)
                                          for c, n in zip(stream.classes, counts, strict=True)}
        steps.append(row)
    return {"name": stream.name, "info": stream.info, "steps": steps,
            "classes": list(stream.classes)}


# --- the run ------------------------------------------------------------------------------

def run_benchmark(
    stream: Stream, *, card: Path | None, variant: str, strategies: list[str], out: Path,
    cache_dir: Path, seeds: list[int], jobs: int, overrides: dict[str, Any], command: str,
    title: str, quick: bool, share_of: dict[str, float | None] | None = None,
    extra_durations: dict[str, float] | None = None,
    buffer_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from robot.seeing.backbone import Backbone
    from tools.bench.cl_features import FeatureCache
    from tools.bench.cl_report import SAMPLES_PNG, write_report
    from tools.bench.cl_runner import StrategyJob, prepare, run_all, run_strategy
    from tools.bench.measure import machine

    t0 = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    mach = machine()
    bb = Backbone(card, variant=variant, threads=2)
    cache = FeatureCache(cache_dir, bb, stream.classes)
    buffer_config = BufferConfig(**(buffer_overrides or {}))
    # The buffer depends on the seed (which cells it keeps), so each seed has its own files;
    # the features are extracted once.
    prepared, cells = prepare(stream, cache, cache_dir, buffer_config, seeds)
    prepare_s = time.perf_counter() - t0
    log.info("stream ready in %.1f s (%d sources extracted in %.1f s, %d from the cache)",
             prepare_s, cache.misses, cache.extracted_s, cache.hits)
    job_list = [StrategyJob(s, tuple((seed, prepared[seed]) for seed in seeds),
                            tuple(sorted(overrides.items()))) for s in strategies]
    t1 = time.perf_counter()

    def done(rs: list[dict[str, Any]]) -> None:
        c = rs[0]["cost"]
        log.info("%-8s done (%d seed%s): update %s s, process %.0f s, peak RSS %.0f MB",
                 rs[0]["strategy"], len(rs), "s" if len(rs) > 1 else "",
                 " / ".join(f"{r['cost']['update_s_total']:.1f}" for r in rs),
                 c["process_wall_s"], c["peak_rss_mb"])

    if jobs == 0:  # in this process: no per-strategy RSS isolation (debugging, tests)
        raw = []
        for j in job_list:
            raw.extend(run_strategy(j))
            done(raw[-len(seeds):])
    else:
        raw = run_all(job_list, jobs, done)
    strategies_s = time.perf_counter() - t1
    runs = aggregate(raw, strategies, seeds)
    samples = None
    if share_of is not None:
        from tools.bench.cl_real import sample_sheet

        samples = str(sample_sheet(stream, share_of, out / SAMPLES_PNG))
    total_s = time.perf_counter() - t0
    durations = {"prepare_s": round(prepare_s, 1), "features_extracted_s":
                 round(cache.extracted_s, 1), "sources_extracted": cache.misses,
                 "sources_from_cache": cache.hits, "strategies_s": round(strategies_s, 1),
                 "total_s": round(total_s, 1), **(extra_durations or {})}
    results: dict[str, Any] = {
        "title": title,
        "columns": stream.step_names,
        "setup": {
            "command": command, "date": started, "seeds": seeds, "jobs": jobs,
            "strategies": strategies,
            "train_config": dataclasses.asdict(TrainConfig(**overrides)),
            "train_config_overrides": overrides,
            "buffer_config": dataclasses.asdict(buffer_config),
            "backbone": {"card": str(bb.card.path), "name": bb.card.name, "variant": variant,
                         "sha256": bb.backbone_id, "feature_dim": bb.feature_dim,
                         "grid": f"{bb.grid_hw[1]}x{bb.grid_hw[0]}"},
            "machine": mach,
        },
        "stream": stream_summary(stream, cells),
        "stream_text": stream_text(stream),
        "strategies": runs,
        "best": best_strategies(runs),
        "acceptance": acceptance(runs, total_s, quick) if stream.name == "synthetic" else [],
        "durations": durations,
        "durations_text": (
            f"total {total_s:.0f} s = stream ready {prepare_s:.0f} s (feature extraction "
            f"{cache.extracted_s:.0f} s for {cache.misses} sources, {cache.hits} from the "
            f"cache) + strategies {strategies_s:.0f} s"
            + "".join(f"; {k.replace('_s', '')} {v:.0f} s before the run (not counted)"
                      for k, v in (extra_durations or {}).items())),
        "samples_png": samples,
    }
    write_report(results, out)
    return results


def stream_text(stream: Stream) -> list[str]:
    if stream.name == "synthetic":
        info = stream.info
        gardens = info.get("gardens") or {}
        gen = info.get("generator") or {}
        return [
            f"Synthetic garden set `{info.get('manifest')}` (generator {gen.get('name')} "
            f"v{gen.get('version')}, quick: {info.get('quick')}). Train gardens "
            f"{gardens.get('train')}, held-out test gardens {gardens.get('test')}.",
            "",
            "Each step trains on every labelled frame of its train recordings (all labelled "
            "cells, those whose majority class covers ≥ 60 % of the cell) and is tested on "
            "every labelled frame of the held-out gardens of every step. Columns = the steps' "
            "test sets; next spring has its own test recordings (year 1), so column 0 "
            "(spring, year 0) measures memory of last year's spring and column 4 the new one.",
        ]
    info = stream.info
    bands = ", ".join(f"{b['name']} ({_band_range(b['low'], b['high'])})" for b in info["bands"])
    left = info["left_out"]
    return [
        f"Real images: YCOR at `{info['root']}` (quick: {info['quick']}). Steps by the green "
        f"share of each image's chromatic vegetation pixels — green / (green + warm hues): "
        f"{bands}. Train images from train/, test images from valid/, split by the same "
        f"thresholds. Images per step (train / test): "
        + ", ".join(f"{b['name']} {tr} / {te}" for b, tr, te in zip(
            info["bands"], info["images"]["train"], info["images"]["test"], strict=True))
        + f"; left out for too little vegetation: {len(left['train'])} train, "
          f"{len(left['test'])} test.",
        "",
        "Class mapping from shared/data/README.md: grass → lawn, trails → path, low and high "
        "vegetation → plant, obstacle and puddle → obstacle; void and sky ignored; YCOR has "
        "no soil. YCOR's train/valid split is random over the same drives, so test images "
        "can be near neighbours of training frames.",
    ]


def _band_range(low: float, high: float) -> str:
    if high == float("inf"):
        return f"share ≥ {low}"
    if low == float("-inf"):
        return f"share < {high}"
    return f"{low} ≤ share < {high}"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench cl", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", type=Path, default=None,
                   help="synthetic benchmark set (manifest.json); default runs/bench-data/full "
                        "(or quick), generated with `gardenbot synth --benchmark` if missing")
    p.add_argument("--real", type=Path, default=None, metavar="YCOR_DIR",
                   help="run the real track on YCOR images instead (e.g. shared/data/ycor)")
    p.add_argument("--card", type=Path, default=None,
                   help="backbone model card (default: the shipped models/backbone.json)")
    p.add_argument("--variant", choices=("fp32", "int8"), default="fp32")
    p.add_argument("--strategies", default=None,
                   help=f"comma-separated (default: all: {','.join(STRATEGY_NAMES)})")
    p.add_argument("--quick", action="store_true",
                   help="CI-sized: the quick synthetic set, or every 6th YCOR image")
    p.add_argument("--out", type=Path, default=None,
                   help="report folder (default runs/bench-cl/, runs/bench-cl-real/ with --real)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="feature cache folder")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--seeds", type=int, default=None,
                   help=f"how many seeds, from --seed on; metrics are averaged over them "
                        f"(default {DEFAULT_SEEDS}, 1 with --quick)")
    p.add_argument("--jobs", type=int, default=1,
                   help="strategies run in parallel child processes (default 1, so timings "
                        "are not shared; 0 = in this process, no per-strategy RSS)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a TrainConfig field, or a BufferConfig field as buffer.KEY "
                        "(investigation only; e.g. steps=600, buffer.capacity_bytes=8000000)")
    a = p.parse_args(argv)
    if a.real is not None and a.benchmark is not None:
        raise BenchError("--real and --benchmark are two different tracks; give one")
    if a.jobs < 0:
        raise BenchError("--jobs must be >= 0")
    n_seeds = a.seeds if a.seeds is not None else (1 if a.quick else DEFAULT_SEEDS)
    if n_seeds < 1:
        raise BenchError("--seeds must be >= 1")
    seeds = [a.seed + i for i in range(n_seeds)]
    strategies = parse_strategies(a.strategies)
    train_items, buffer_overrides = split_buffer_overrides(a.set)
    overrides = parse_overrides(train_items)
    command = "gardenbot bench cl " + shlex.join(argv)
    extra: dict[str, float] = {}
    share_of = None
    if a.real is not None:
        from tools.bench.cl_real import ycor_stream

        stream, share_of = ycor_stream(a.real, quick=a.quick)
        title = "real track (YCOR)" + (", quick" if a.quick else "")
        out = a.out or Path("runs/bench-cl-real")
    else:
        root, gen_s = synthetic_set(a.benchmark, a.quick)
        if gen_s:
            extra["data_generation_s"] = round(gen_s, 1)
        stream = read_manifest(root)
        title = "synthetic seasonal stream" + (", quick" if stream.info.get("quick") else "")
        out = a.out or Path("runs/bench-cl")
    results = run_benchmark(
        stream, card=a.card, variant=a.variant, strategies=strategies, out=out,
        cache_dir=a.cache, seeds=seeds, jobs=a.jobs, overrides=overrides, command=command,
        title=title, quick=a.quick or bool(stream.info.get("quick")), share_of=share_of,
        extra_durations=extra, buffer_overrides=buffer_overrides)
    print(console_summary(results))
    print(f"\nreport: {out / 'report.md'}  (results.json, PNG plots alongside)")
    return exit_status(results["acceptance"])


def console_summary(results: dict[str, Any]) -> str:
    from tools.bench.cl_report import pts

    lines = [f"{results['title']}: {results['durations_text']}",
             f"{'strategy':<9} {'AA':>6} {'FM':>6} {'AF':>6} {'BWT':>6} {'IM':>6} "
             f"{'update s':>9} {'RSS MB':>7}"]
    for name, r in results["strategies"].items():
        f, c = r["metrics"]["final"], r["cost"]
        lines.append(f"{name:<9} {pts(f['AA']):>6} {pts(f['FM']):>6} "
                     f"{pts(f['AF_first_last']):>6} {pts(f['BWT'], True):>6} "
                     f"{pts(f.get('IM_mean'), True):>6} {c['update_s_total']:>9.1f} "
                     f"{c['peak_rss_mb']:>7.0f}")
    b = results["best"]
    lines.append(f"best final AA: {b['strategy']} ({pts(b['AA'])})"
                 + (f"; best a robot can run: {b['robot_strategy']} ({pts(b['robot_AA'])})"
                    if "robot_strategy" in b else ""))
    lines += [verdict_line(a["passed"], a["kind"], a["text"]) for a in results["acceptance"]]
    return "\n".join(lines)
