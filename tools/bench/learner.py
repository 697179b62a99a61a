"""`gardenbot bench learner`: what one retrain costs on this machine.

For each feature dim C (default 128, 171 — the shipped backbone's — and 256):
- a full 4 MB replay buffer (three seasons of synthetic features) plus 2,000 new labelled cells
  of a fourth season; one retrain of the default strategy (replay), as the robot runs it:
  load the buffer, train, export ONNX, validate against the current adapter, publish —
  in this process (median of ``--reps``) and in a fresh learner process (spawn + torch import
  included), with that process's peak RSS;
- the adapter on a full 15x20 feature grid with onnxruntime (one thread), per call;
- fine-tuning the whole backbone on the same labelled data instead: the shipped architecture
  (GardenNet) + a 1x1 class head at 320x240, for the same number of labelled-cell visits as the
  adapter's training (fully labelled frames of 300 cells: the backbone's best case).
torch uses one thread throughout, as the learner process does by default.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from robot.learning.config import DEFAULT_BUFFER_BYTES, TrainConfig

SHA = "be" * 32
NEW_CELLS = 2000


def _median_spread(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def prepare(root: Path, dim: int, seed: int = 0) -> tuple[int, int]:
    """Buffer full of three seasons, version 1 published, 2,000 new cells of a fourth season."""
    from robot.learning.replay_buffer import ReplayBuffer
    from robot.learning.retrain import RetrainJob, run_retrain
    from tools.synthetic_features import make_domain_stream

    stream = make_domain_stream(feature_dim=dim, domains=4, noise=1.0, seed=seed)
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(dim, SHA, DEFAULT_CLASSES)
    per_season = buf.max_cells  # 3 seasons x capacity: the buffer is full and choosing
    for season in range(3):
        counts = rng.multinomial(per_season, (0.5, 0.25, 0.13, 0.08, 0.04))
        buf.add(stream.sample(season, counts, rng))
    buf.save(root / "buffer")
    run_retrain(RetrainJob(str(root / "buffer"), str(root / "store")))
    full = len(buf)
    buf.add(stream.sample(3, rng.multinomial(NEW_CELLS, (0.5, 0.25, 0.13, 0.08, 0.04)), rng))
    buf.save(root / "buffer")
    return full, len(buf)


def time_retrains(root: Path, reps: int) -> list[dict]:
    from robot.learning.retrain import RetrainJob, run_retrain

    out = []
    for i in range(reps):
        store = root / f"store-{i}"
        shutil.copytree(root / "store", store)
        t0 = time.perf_counter()
        result = run_retrain(RetrainJob(str(root / "buffer"), str(store)))
        result["wall_s"] = time.perf_counter() - t0
        out.append(result)
        shutil.rmtree(store)
    return out


def time_learner_process(root: Path, reps: int) -> list[dict]:
    from robot.learning.process import LearnerProcess
    from robot.learning.retrain import RetrainJob

    out = []
    for i in range(reps):
        store = root / f"pstore-{i}"
        shutil.copytree(root / "store", store)
        proc = LearnerProcess(RetrainJob(str(root / "buffer"), str(store)), root / "status.json")
        t0 = time.perf_counter()
        proc.start()
        status = proc.wait(600)
        wall = time.perf_counter() - t0
        if status.state not in ("published", "rejected"):
            raise RuntimeError(f"learner process: {status}")
        out.append({**status.result, "wall_s": wall})
        shutil.rmtree(store)
    return out


def time_inference(root: Path, dim: int, calls: int) -> dict:
    from robot.adapter.runner import AdapterRunner

    runner = AdapterRunner(root / "store", backbone_sha256=SHA, feature_dim=dim,
                           reload_check_s=0.5)
    grid = np.random.default_rng(0).standard_normal((15, 20, dim)).astype(np.float32)
    raw = grid.transpose(2, 0, 1)[None].copy()
    for _ in range(50):
        runner.predict(grid)
    per_call, per_raw = [], []
    for _ in range(calls):
        t0 = time.perf_counter()
        runner.predict(grid)
        t1 = time.perf_counter()
        runner.adapter.run(raw)
        per_raw.append(time.perf_counter() - t1)
        per_call.append(t1 - t0)
    ms = 1e3
    return {
        "predict_ms": _median_spread([x * ms for x in per_call]),
        "predict_ms_p90": float(np.percentile(per_call, 90) * ms),
        "onnx_run_ms": _median_spread([x * ms for x in per_raw]),
    }


def backbone_finetune_s(train_cells: int, config: TrainConfig, seed: int = 0) -> dict:
    """Fine-tune the shipped backbone's architecture + a 1x1 class head for the adapter's
    number of cell visits."""
    import torch
    from torch import nn

    from tools.backbone.arch import ArchConfig, GardenNet, count_params

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    net = nn.Sequential(GardenNet(ArchConfig()), nn.Conv2d(ArchConfig().feature_dim,
                                                           len(DEFAULT_CLASSES), 1))
    params = count_params(net)
    cell_visits = config.steps * config.batch_size
    frames = cell_visits / 300  # a fully labelled 15x20 grid per frame
    batch = 8
    steps = int(np.ceil(frames / batch))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 240, 320)
    y = torch.randint(0, len(DEFAULT_CLASSES), (batch, 15, 20))
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(steps + 1):  # the first step warms up and is not counted
        t0 = time.perf_counter()
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return {"parameters": params, "frames_equivalent": frames, "steps": steps,
            "batch_frames": batch, "seconds": float(sum(times[1:])),
            "step_s": _median_spread(times[1:]), "train_cells": train_cells}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench learner", description=__doc__)
    p.add_argument("--dims", default="128,171,256", help="feature channels to try")
    p.add_argument("--reps", type=int, default=3, help="in-process retrains per dim")
    p.add_argument("--process-reps", type=int, default=2, help="learner-process retrains")
    p.add_argument("--calls", type=int, default=2000, help="adapter inference calls")
    p.add_argument("--skip-backbone", action="store_true")
    p.add_argument("--out", type=Path, default=Path("bench-results/learner.json"))
    args = p.parse_args(argv)
    import torch

    from tools.machine import describe

    torch.set_num_threads(1)
    report: dict = {"machine": describe(),
                    "buffer_bytes": DEFAULT_BUFFER_BYTES, "new_cells": NEW_CELLS, "dims": {}}
    for dim in (int(d) for d in args.dims.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            full, total = prepare(root, dim)
            retrains = time_retrains(root, args.reps)
            procs = time_learner_process(root, args.process_reps)
            infer = time_inference(root, dim, args.calls)
            buffer_bytes = (root / "buffer").stat().st_size
        r = {
            "buffer_cells": total, "buffer_file_bytes": buffer_bytes,
            "cells_before_new": full,
            "retrain_in_process_s": _median_spread([x["wall_s"] for x in retrains]),
            "train_s": _median_spread([x["train_s"] for x in retrains]),
            "learner_process_wall_s": _median_spread([x["wall_s"] for x in procs]),
            "learner_process_peak_rss_mb": max(x["peak_rss_mb"] for x in procs),
            "published": [x["published"] for x in retrains + procs],
            "new_cells_trained": retrains[0]["new_cells"],
            "replay_cells": retrains[0]["replay_cells"],
            "inference": infer,
        }
        print(f"C={dim}: buffer {total} cells ({buffer_bytes} B); retrain in process "
              f"{r['retrain_in_process_s']['median']:.2f} s (train {r['train_s']['median']:.2f}"
              f" s), in a learner process {r['learner_process_wall_s']['median']:.2f} s wall, "
              f"peak RSS {r['learner_process_peak_rss_mb']:.0f} MB; adapter on 15x20 grid "
              f"{infer['predict_ms']['median']:.3f} ms (p90 {infer['predict_ms_p90']:.3f} ms)",
              flush=True)
        report["dims"][str(dim)] = r
    if not args.skip_backbone:
        last = report["dims"][str(dim)]
        bb = backbone_finetune_s(last["new_cells_trained"] + last["replay_cells"], TrainConfig())
        ratios = {d: bb["seconds"] / r["train_s"]["median"] for d, r in report["dims"].items()}
        report["backbone_finetune"] = {**bb, "ratio_to_adapter_retrain": ratios}
        print(f"backbone (GardenNet, {bb['parameters']} parameters) fine-tuned on the same "
              f"{bb['frames_equivalent']:.0f} fully labelled frames: {bb['seconds']:.1f} s = "
              + ", ".join(f"{x:.0f}x the adapter retrain at C={d}" for d, x in ratios.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0
