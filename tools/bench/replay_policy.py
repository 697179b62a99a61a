"""`gardenbot bench replay-policy`: the balanced buffer policy against a plain reservoir.

A long, imbalanced, seasonal stream of synthetic features (tools/synthetic_features.py: the
classes change their look between seasons) goes through a 4 MB buffer under each policy. We
report what each buffer kept (cells per class and per season) and how well an adapter trained
from scratch on each buffer does on a balanced test set of every season.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from robot.common.samples import LabelledCells
from robot.learning.config import DEFAULT_BUFFER_BYTES, BufferConfig, TrainConfig
from tools.machine import describe

SHA = "0" * 64
CLASS_SHARES = (0.55, 0.25, 0.12, 0.06, 0.02)  # lawn .. obstacle
SEASON_CELLS = (60_000, 30_000, 20_000, 10_000)  # spring is long, winter short


def run_policy(policy: str, dim: int, noise: float, seed: int, capacity: int, scale: float,
               test: list[LabelledCells]) -> dict:
    from robot.learning.learner import LearnerState, evaluate, train
    from robot.learning.replay_buffer import ReplayBuffer
    from tools.synthetic_features import make_domain_stream

    stream = make_domain_stream(feature_dim=dim, domains=4, noise=noise, seed=0)
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(dim, SHA, DEFAULT_CLASSES, BufferConfig(capacity_bytes=capacity,
                                                                policy=policy), seed=seed)
    for season, n in enumerate(SEASON_CELLS):
        n = int(n * scale)
        for _ in range(10):  # in chunks, as recordings come in
            counts = rng.multinomial(n // 10, CLASS_SHARES)
            buf.add(stream.sample(season, counts, rng))
    train_cells, _ = buf.split()
    adapter, _ = train("replay", LearnerState.initial(DEFAULT_CLASSES, dim, SHA), train_cells,
                       None, TrainConfig(), seed=seed)
    per_season = [evaluate(adapter, t.features, t.labels) for t in test]
    class_counts = buf.class_counts()
    season_counts = buf.season_counts()
    worst_class = min(
        min(s["per_class"][c]["accuracy"] for c in DEFAULT_CLASSES) for s in per_season)
    return {
        "cells": len(buf), "bytes": buf.nbytes,
        "class_counts": class_counts, "season_counts": season_counts,
        "rarest_class_share": min(class_counts.values()) / len(buf),
        "oldest_season_share": season_counts.get("spring", 0) / len(buf),
        "smallest_season_share": min(season_counts.values()) / len(buf),
        "season_accuracy": {s: round(r["accuracy"], 4) for s, r in
                            zip(stream.seasons, per_season, strict=True)},
        "accuracy": float(np.mean([r["accuracy"] for r in per_season])),
        "balanced_accuracy": float(np.mean([r["balanced_accuracy"] for r in per_season])),
        "worst_class_accuracy": worst_class,
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench replay-policy", description=__doc__)
    p.add_argument("--dim", type=int, default=128, help="feature channels")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--noise", type=float, default=1.6,
                   help="cluster spread (higher = classes overlap more)")
    p.add_argument("--capacity-bytes", type=int, default=DEFAULT_BUFFER_BYTES)
    p.add_argument("--scale", type=float, default=1.0, help="stream length factor (quick: 0.2)")
    p.add_argument("--out", type=Path, default=Path("bench-results/replay_policy.json"))
    args = p.parse_args(argv)
    from tools.synthetic_features import make_domain_stream

    stream = make_domain_stream(feature_dim=args.dim, domains=4, noise=args.noise, seed=0)
    test_rng = np.random.default_rng(1234)
    test = [stream.sample_balanced(d, 400, test_rng) for d in range(4)]
    results: dict[str, list[dict]] = {"balanced": [], "reservoir": []}
    for seed in range(args.seeds):
        for policy in results:
            r = run_policy(policy, args.dim, args.noise, seed, args.capacity_bytes, args.scale,
                           test)
            results[policy].append(r)
            print(f"seed {seed} {policy:<9} cells {r['cells']:>6}  acc {r['accuracy']:.3f}  "
                  f"bal {r['balanced_accuracy']:.3f}  worst class {r['worst_class_accuracy']:.3f}"
                  f"  seasons {r['season_accuracy']}  classes {r['class_counts']}")
    summary = {}
    for policy, runs in results.items():
        summary[policy] = {k: float(np.mean([r[k] for r in runs])) for k in (
            "accuracy", "balanced_accuracy", "worst_class_accuracy", "rarest_class_share",
            "oldest_season_share", "smallest_season_share")}
        summary[policy]["season_accuracy"] = {
            s: float(np.mean([r["season_accuracy"][s] for r in runs]))
            for s in runs[0]["season_accuracy"]}
    print("\nmean over seeds:")
    for policy, s in summary.items():
        print(f"  {policy:<9} " + "  ".join(
            f"{k} {v:.3f}" for k, v in s.items() if not isinstance(v, dict))
              + f"  per season {({k: round(v, 3) for k, v in s['season_accuracy'].items()})}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": describe(), "dim": args.dim,
        "noise": args.noise,
        "capacity_bytes": args.capacity_bytes, "scale": args.scale,
        "class_shares": CLASS_SHARES, "season_cells": SEASON_CELLS,
        "summary": summary, "runs": results}, indent=2))
    print(f"wrote {args.out}")
    return 0
