"""Avalanche's strategies on the continual-learning benchmark's own features, for comparison.

Standalone: run it with the Python of a separate virtual environment that has Avalanche (never
a dependency of gardenbot or of its CI), on a folder written by `gardenbot bench cl-export`:

    python -m venv /tmp/avl
    /tmp/avl/bin/pip install avalanche-lib==0.6.0 torch==2.13.0   # 2.13.0: the CPU wheel here
    gardenbot bench cl-export --benchmark DIR --out /tmp/cl-features
    /tmp/avl/bin/python tools/bench/cl_avalanche.py /tmp/cl-features --seeds 3 \\
        --out runs/bench-cl-avalanche.json

It imports nothing from gardenbot (only numpy, torch and avalanche). What it rebuilds is the
learner's recipe as far as Avalanche allows, so that only the strategies differ:

- the adapter: the same residual bottleneck + linear classifier (width 32) on inputs
  standardised with the first step's training cells (then fixed), initialised the same way;
- training: Adam, lr 3e-3, weight decay 1e-4, minibatches of 256, ``--steps`` (300) iterations
  per experience, the optimiser created once and kept across experiences (Avalanche's default);
- evaluation: per-cell accuracy on every step's test set after every step -> the accuracy
  matrix; AA (mean of the last row) and FM (best earlier minus last, averaged over the earlier
  steps) as `gardenbot bench cl` computes them; seconds per experience (training only: there is
  no ONNX export on this side).

Strategies: Naive, Replay (memory = the robot's buffer size, 256 new + 256 remembered per step),
EWC (online, decay 0.9, λ ``--ewc-lambda`` = 100: the learner's λ/2, docs/learner.md), LwF
(α 0.5, T 2: the learner's α 0.125 times T²), AGEM, GEM, Cumulative (capped at ``--steps``
iterations like the rest) and StreamingLDA (closed form).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _without_torchvision_ops() -> None:
    """Avalanche imports torchvision (for image transforms this script never uses). The
    torchvision wheel that pip picks for torch 2.13.0 is a CUDA build whose operator library
    cannot load next to the CPU-only torch, and its fake-kernel registrations then fail at
    import ("operator torchvision::nms does not exist"). Skipping those registrations is
    harmless here: no torchvision operator is ever called."""
    name = "torchvision._meta_registrations"
    sys.modules.setdefault(name, types.ModuleType(name))


STRATEGIES = ("naive", "replay", "ewc", "lwf", "agem", "gem", "cumulative", "slda")


class Adapter(nn.Module):
    """gardenbot's per-cell adapter (robot/learning/learner/model.py) with its standardiser."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, classes: int, bottleneck: int,
                 rng: np.random.Generator) -> None:
        super().__init__()
        c = len(mean)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("inv_std", torch.tensor(1.0 / std, dtype=torch.float32))
        bound = math.sqrt(6.0 / c)
        self.down = nn.Linear(c, bottleneck)
        self.up = nn.Linear(bottleneck, c)
        self.cls = nn.Linear(c, classes)
        with torch.no_grad():
            self.down.weight.copy_(torch.tensor(rng.uniform(-bound, bound, (bottleneck, c))))
            self.down.bias.zero_()
            self.up.weight.copy_(torch.tensor(rng.standard_normal((c, bottleneck))
                                              * 0.1 / math.sqrt(bottleneck)))
            self.up.bias.zero_()
            self.cls.weight.copy_(torch.tensor(rng.standard_normal((classes, c)) * 0.01))
            self.cls.bias.zero_()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.inv_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        return self.cls(z + self.up(F.relu(self.down(z))))


def load(folder: Path) -> tuple[dict[str, Any], list[tuple[np.ndarray, ...]]]:
    meta = json.loads((folder / "meta.json").read_text())
    steps = []
    for s in meta["steps"]:
        k = s["index"]
        with np.load(folder / f"step{k}_train.npz") as tr, np.load(
                folder / f"step{k}_test.npz") as te:
            steps.append((tr["features"].astype(np.float32), tr["labels"].astype(np.int64),
                          te["features"].astype(np.float32), te["labels"].astype(np.int64)))
    return meta, steps


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As the learner's first retrain: mean and std of the data, std floored."""
    std = x.std(axis=0)
    return x.mean(axis=0), np.maximum(std, 1e-3 * max(float(std.max()), 1e-6))


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(x[i:i + 65536])).argmax(1)
                          for i in range(0, len(x), 65536)])
    return float((pred.numpy() == y).mean())


def metrics(m: np.ndarray) -> dict[str, float]:
    t = len(m)
    fm = float(np.mean([m[:t - 1, j].max() - m[t - 1, j] for j in range(t - 1)]))
    return {"AA": float(m[t - 1].mean()), "FM": fm}


def make_strategy(name: str, model: nn.Module, args: argparse.Namespace, mem: int,
                  n_classes: int, feature_dim: int, plugins: list[Any]) -> Any:
    from avalanche.training import supervised as S

    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    common = dict(criterion=nn.CrossEntropyLoss(), train_mb_size=args.batch,
                  train_epochs=10_000, eval_mb_size=4096, device="cpu",
                  evaluator=None, plugins=plugins)
    if name == "naive":
        return S.Naive(model=model, optimizer=opt, **common)
    if name == "replay":
        from avalanche.training.plugins import ReplayPlugin
        from avalanche.training.storage_policy import ClassBalancedBuffer

        replay = ReplayPlugin(mem_size=mem, batch_size=args.batch, batch_size_mem=args.batch,
                              storage_policy=ClassBalancedBuffer(mem, adaptive_size=True))
        common["plugins"] = [*plugins, replay]
        return S.Naive(model=model, optimizer=opt, **common)
    if name == "ewc":
        return S.EWC(model=model, optimizer=opt, ewc_lambda=args.ewc_lambda, mode="online",
                     decay_factor=0.9, keep_importance_data=False, **common)
    if name == "lwf":
        return S.LwF(model=model, optimizer=opt, alpha=0.5, temperature=2.0, **common)
    if name == "agem":
        return S.AGEM(model=model, optimizer=opt, patterns_per_exp=mem // 5,
                      sample_size=args.batch, **common)
    if name == "gem":
        return S.GEM(model=model, optimizer=opt, patterns_per_exp=256, memory_strength=0.5,
                     **common)
    if name == "cumulative":
        return S.Cumulative(model=model, optimizer=opt, **common)
    if name == "slda":
        return S.StreamingLDA(slda_model=_Standardise(model), criterion=nn.CrossEntropyLoss(),
                              input_size=feature_dim, num_classes=n_classes,
                              shrinkage_param=1e-2, train_mb_size=4096, train_epochs=1,
                              eval_mb_size=4096, device="cpu", evaluator=None)
    raise SystemExit(f"unknown strategy {name}")


class _Standardise(nn.Module):
    """StreamingLDA's feature extractor: the adapter's standardiser only."""

    def __init__(self, adapter: Adapter) -> None:
        super().__init__()
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter.features(x)


def run(name: str, seed: int, meta: dict[str, Any], steps: list[tuple[np.ndarray, ...]],
        args: argparse.Namespace) -> dict[str, Any]:
    from avalanche.benchmarks.scenarios.deprecated.generators import tensors_benchmark
    from avalanche.core import SupervisedPlugin

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_classes, c = len(meta["classes"]), int(meta["feature_dim"])
    mean, std = standardiser(steps[0][0])
    model = Adapter(mean, std, n_classes, args.bottleneck, rng)

    bench = tensors_benchmark(
        train_tensors=[(torch.from_numpy(s[0]), torch.from_numpy(s[1])) for s in steps],
        test_tensors=[(torch.from_numpy(s[2][:2]), torch.from_numpy(s[3][:2])) for s in steps],
        task_labels=[0] * len(steps), complete_test_set_only=False)

    class StopAfter(SupervisedPlugin):
        """Exactly ``args.steps`` optimiser steps per experience, whatever the data size."""

        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def before_training_exp(self, strategy: Any, **kw: Any) -> None:
            self.count = 0

        def after_training_iteration(self, strategy: Any, **kw: Any) -> None:
            self.count += 1
            if self.count >= args.steps:
                strategy.stop_training()

    mem = int(np.median([s["buffer_train_cells_before"] for s in meta["steps"][1:]]))
    strategy = make_strategy(name, model, args, mem, n_classes, c, [StopAfter()])
    t = len(steps)
    mat = np.zeros((t, t))
    secs = []
    for k, exp in enumerate(bench.train_stream):
        t0 = time.perf_counter()
        strategy.train(exp, num_workers=0)
        secs.append(time.perf_counter() - t0)
        scorer = strategy.model if name != "slda" else _SldaScorer(strategy)
        for j in range(t):
            mat[k, j] = accuracy(scorer, steps[j][2], steps[j][3])
        print(f"{name} seed {seed} after {meta['steps'][k]['name']}: "
              + " ".join(f"{v * 100:.1f}" for v in mat[k]) + f"  ({secs[-1]:.2f} s)", flush=True)
    return {"strategy": name, "seed": seed, "matrix": mat.tolist(), **metrics(mat),
            "train_s": secs, "train_s_median": float(np.median(secs)), "memory_cells": mem}


class _SldaScorer(nn.Module):
    def __init__(self, strategy: Any) -> None:
        super().__init__()
        self.strategy = strategy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.strategy.predict(self.strategy.model(x))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("features", type=Path, help="folder written by `gardenbot bench cl-export`")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--steps", type=int, default=300, help="optimiser steps per experience")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--bottleneck", type=int, default=32)
    p.add_argument("--ewc-lambda", type=float, default=100.0,
                   help="Avalanche's λ (no ½): 100 = the learner's default λ 200")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the learner uses 1)")
    p.add_argument("--out", type=Path, default=None, help="write every run as JSON here")
    a = p.parse_args()
    _without_torchvision_ops()
    torch.set_num_threads(a.threads)
    meta, steps = load(a.features)
    runs = []
    for name in [s.strip() for s in a.strategies.split(",") if s.strip()]:
        for seed in range(a.seed, a.seed + a.seeds):
            runs.append(run(name, seed, meta, steps, a))
            if a.out is not None:  # after every run, so an interrupted comparison keeps its runs
                a.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(a).items()},
                                             "runs": runs}, indent=1))
    print(f"\n{'strategy':<11} {'AA':>6} {'FM':>6} {'median s/exp':>13}")
    for name in dict.fromkeys(r["strategy"] for r in runs):
        rs = [r for r in runs if r["strategy"] == name]
        print(f"{name:<11} {100 * np.mean([r['AA'] for r in rs]):6.1f} "
              f"{100 * np.mean([r['FM'] for r in rs]):6.1f} "
              f"{np.median([r['train_s_median'] for r in rs]):13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
