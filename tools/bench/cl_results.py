"""From raw strategy runs (one per strategy and seed) to the numbers the report shows.

Metrics are computed per seed (IM against joint of the same seed), then averaged over seeds,
with the min and max over seeds kept beside each mean: with a small adapter on a frozen backbone
a retrain's per-cell accuracy moves by points from the seed alone (see docs/bench.md), so one
seed is not enough to call a strategy's forgetting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from robot.learning.config import TrainConfig
from tools.bench.cl_metrics import summarize
from tools.bench.verdict import QUALITY, TIMING

# matrix name in a run -> metrics key in the results
METRIC_SETS = (("accuracy", "metrics"), ("mean_iou", "metrics_iou"),
               ("balanced_accuracy", "metrics_balanced"))

# Issue 5's acceptance bars, in accuracy fractions (checked on the means over seeds).
AA_GAP_TO_JOINT = 0.03
DEFAULT_FM_MAX = 0.03
FINETUNE_FM_MIN = 0.10
FULL_RUN_S_MAX = 15 * 60
QUICK_RUN_S_MAX = 2 * 60


def _mean(values: Sequence[float | None]) -> float:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else math.nan


def _range(values: Sequence[float | None]) -> list[float]:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return [float(min(v)), float(max(v))] if v else [math.nan, math.nan]


def _aggregate_metrics(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    names = per_seed[0]["per_step"].keys()
    steps = len(next(iter(per_seed[0]["per_step"].values())))
    finals = per_seed[0]["final"].keys()
    return {
        "per_step": {n: [_mean([m["per_step"][n][k] for m in per_seed]) for k in range(steps)]
                     for n in names},
        "final": {n: _mean([m["final"][n] for m in per_seed]) for n in finals},
        "final_range": {n: _range([m["final"][n] for m in per_seed]) for n in finals},
        "final_per_seed": {n: [m["final"][n] for m in per_seed] for n in finals},
    }


def aggregate(raw: Sequence[dict[str, Any]], strategies: Sequence[str], seeds: Sequence[int]
              ) -> dict[str, dict[str, Any]]:
    """Per strategy: per-seed runs with their metrics, the mean matrices, the metrics averaged
    over seeds (with min-max), and the cost (medians of times, maxima of sizes and RSS)."""
    by = {(r["strategy"], r["seed"]): r for r in raw}
    missing = [(s, seed) for s in strategies for seed in seeds if (s, seed) not in by]
    if missing:
        raise ValueError(f"no run for {missing}")
    for r in raw:
        joint = by.get(("joint", r["seed"]))
        for mat, key in METRIC_SETS:
            r[key] = summarize(r["matrices"][mat],
                               joint["matrices"][mat] if joint is not None else None)
    out: dict[str, dict[str, Any]] = {}
    for s in strategies:
        runs = [by[(s, seed)] for seed in seeds]
        costs = [r["cost"] for r in runs]
        step_s = [st["update_s"] for r in runs for st in r["steps"]]
        out[s] = {
            "seeds": list(seeds),
            "matrices": {mat: np.mean([r["matrices"][mat] for r in runs], axis=0).tolist()
                         for mat, _ in METRIC_SETS},
            **{key: _aggregate_metrics([r[key] for r in runs]) for _, key in METRIC_SETS},
            "steps": runs[0]["steps"] if len(runs) == 1 else [
                {**st, "update_s": float(np.median([r["steps"][k]["update_s"] for r in runs]))}
                for k, st in enumerate(runs[0]["steps"])],
            "cost": {
                "update_s_total": float(np.median([c["update_s_total"] for c in costs])),
                "update_s_median": float(np.median(step_s)),
                "buffer_bytes_max": max(c["buffer_bytes_max"] for c in costs),
                "state_bytes_max": max(c["state_bytes_max"] for c in costs),
                "peak_rss_mb": max(c["peak_rss_mb"] for c in costs),
                "baseline_rss_mb": max(c["baseline_rss_mb"] for c in costs),
                "learner_rss_delta_mb": max(c["learner_rss_delta_mb"] for c in costs),
                "process_wall_s": max(c["process_wall_s"] for c in costs),
            },
            "runs": runs,
        }
    return out


def best_strategies(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    final = {n: r["metrics"]["final"]["AA"] for n, r in runs.items()}
    best = max(final, key=lambda n: final[n])
    robot = {n: v for n, v in final.items() if n != "joint"}
    out: dict[str, Any] = {"strategy": best, "AA": final[best]}
    if robot:
        rb = max(robot, key=lambda n: robot[n])
        out.update(robot_strategy=rb, robot_AA=robot[rb])
    return out


def _seeds_text(r: dict[str, Any], name: str) -> str:
    values = r["metrics"]["final_per_seed"][name]
    if len(values) < 2:
        return ""
    return " (per seed: " + ", ".join(f"{100 * v:.1f}" for v in values) + ")"


def acceptance(runs: dict[str, dict[str, Any]], total_s: float, quick: bool
               ) -> list[dict[str, Any]]:
    """Issue 5's bars on the means over seeds; a bar whose strategies were not run is left out.
    Each is a quality bar except the run's duration, a timing bar (tools/bench/verdict.py)."""
    out = []
    default = TrainConfig().strategy
    fin = {n: r["metrics"]["final"] for n, r in runs.items()}
    if default in fin and "joint" in fin:
        gap = fin["joint"]["AA"] - fin[default]["AA"]
        out.append({"name": "default_aa_vs_joint", "kind": QUALITY, "value": gap,
                    "bar": AA_GAP_TO_JOINT, "passed": gap <= AA_GAP_TO_JOINT,
                    "text": f"default strategy ({default}) final AA {100 * fin[default]['AA']:.1f}"
                            f"{_seeds_text(runs[default], 'AA')} vs joint "
                            f"{100 * fin['joint']['AA']:.1f}{_seeds_text(runs['joint'], 'AA')}: "
                            f"{100 * abs(gap):.1f} points {'below' if gap > 0 else 'above'} "
                            f"joint (bar: at most {100 * AA_GAP_TO_JOINT:.0f} below)"})
    if default in fin:
        fm = fin[default]["FM"]
        joint_fm = (f"; joint, which retrains on everything, has FM {100 * fin['joint']['FM']:.1f}"
                    f"{_seeds_text(runs['joint'], 'FM')}" if "joint" in fin else "")
        out.append({"name": "default_fm", "kind": QUALITY, "value": fm, "bar": DEFAULT_FM_MAX,
                    "passed": fm <= DEFAULT_FM_MAX,
                    "text": f"default strategy ({default}) final FM {100 * fm:.1f} points"
                            f"{_seeds_text(runs[default], 'FM')} (bar: ≤ "
                            f"{100 * DEFAULT_FM_MAX:.0f}){joint_fm}"})
    if "finetune" in fin:
        fm = fin["finetune"]["FM"]
        out.append({"name": "finetune_fm", "kind": QUALITY, "value": fm,
                    "bar": FINETUNE_FM_MIN,
                    "passed": fm >= FINETUNE_FM_MIN,
                    "text": f"finetune final FM {100 * fm:.1f} points"
                            f"{_seeds_text(runs['finetune'], 'FM')} (bar: ≥ "
                            f"{100 * FINETUNE_FM_MIN:.0f}: the stream must make it forget)"})
    balanced = {n: r["metrics_balanced"]["final"]["FM"] for n, r in runs.items()
                if n in (default, "joint", "finetune")}
    if balanced:
        out.append({"name": "fm_on_balanced_accuracy", "kind": QUALITY, "value": balanced,
                    "bar": None,
                    "passed": None,
                    "text": "for reference (no bar), final FM computed on balanced accuracy: "
                            + ", ".join(f"{n} {100 * v:.1f}" + _seeds_text(
                                {"metrics": runs[n]["metrics_balanced"]}, "FM")
                                for n, v in balanced.items())})
    if quick:  # the quality bars are for the full stream; on the quick set they only inform
        for a in out:
            if a["passed"] is not None:
                a["passed"] = None
                a["text"] += " — quick set: this bar applies to the full stream only"
    bar = QUICK_RUN_S_MAX if quick else FULL_RUN_S_MAX
    out.append({"name": "duration", "kind": TIMING, "value": total_s, "bar": bar,
                "passed": total_s <= bar,
                "text": f"whole run {total_s:.0f} s (bar: ≤ {bar} s for "
                        f"{'--quick' if quick else 'the full benchmark'}; data generation "
                        "not included)"})
    return out
