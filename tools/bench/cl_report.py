"""The benchmark's report: results.json (every number), report.md (tables), PNG plots.

Plots use matplotlib's Agg backend (no display needed): the accuracy matrix of every strategy
as small-multiple heat maps, and accuracy over the stream of all strategies on one chart.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.cl_metrics import json_safe
from tools.bench.verdict import QUALITY, verdict_line

MATRIX_PNG = "accuracy_matrices.png"
CURVES_PNG = "accuracy_over_time.png"
SAMPLES_PNG = "samples.png"

# Stable colours and line styles, so a strategy looks the same in every plot and run.
_STYLE: dict[str, tuple[str, str, str]] = {
    "finetune": ("#d62728", "-", "v"),
    "replay": ("#1f77b4", "-", "o"),
    "ewc": ("#ff7f0e", "-", "s"),
    "lwf": ("#9467bd", "-", "D"),
    "agem": ("#17becf", "-", "^"),
    "bank": ("#2ca02c", "-", "P"),
    "slda": ("#8c564b", "--", "X"),
    "ncm": ("#e377c2", "--", "*"),
    "joint": ("#000000", ":", "h"),
}


def pts(x: float | None, signed: bool = False) -> str:
    """A fraction as percentage points with one decimal ('—' when undefined)."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n else "0"


def _load(avg: Any) -> str:
    return ", ".join(f"{x:.1f}" for x in avg) if avg else "unknown"


def write_json(results: dict[str, Any], out: Path) -> Path:
    path = out / "results.json"
    path.write_text(json.dumps(json_safe(results), indent=1, allow_nan=False))
    return path


# --- markdown -----------------------------------------------------------------------------

def _summary_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| strategy | AA | AA on mIoU | AA on bal. acc. | AIA | FM (ours) | AF first−last | "
        "BWT | IM (mean) | unseen (mean) | update s total (median/step) | buffer | state | "
        "peak RSS MB (learner Δ) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["strategies"].items():
        f, fi, c = r["metrics"]["final"], r["metrics_iou"]["final"], r["cost"]
        fb = r["metrics_balanced"]["final"]
        rng = r["metrics"]["final_range"]
        lines.append(
            f"| {name} | {pts(f['AA'])}{_span(rng['AA'])} | {pts(fi['AA'])} | {pts(fb['AA'])} | "
            f"{pts(f['AIA'])} | {pts(f['FM'])}{_span(rng['FM'])} | "
            f"{pts(f['AF_first_last'])} | {pts(f['BWT'], True)} | {pts(f.get('IM_mean'), True)}"
            f" | {pts(f['UA_mean'])} | {c['update_s_total']:.1f} ({c['update_s_median']:.2f}) "
            f"| {_mb(c['buffer_bytes_max'])} | {_mb(c['state_bytes_max'])} | "
            f"{c['peak_rss_mb']:.0f} ({c['learner_rss_delta_mb']:+.0f}) |")
    return lines


def _span(lo_hi: list[float | None]) -> str:
    """' (lo–hi)' over seeds, or nothing when there was one seed."""
    lo, hi = lo_hi
    if lo is None or hi is None or lo == hi or not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f" ({pts(lo)}–{pts(hi)})"


def _matrix_table(m: list[list[float]], names: list[str]) -> list[str]:
    lines = ["| after ↓ / test → | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for k, row in enumerate(m):
        cells = [pts(v) if j <= k else f"*{pts(v)}*" for j, v in enumerate(row)]
        lines.append(f"| {names[k]} | " + " | ".join(cells) + " |")
    return lines


def _step_table(r: dict[str, Any], names: list[str]) -> list[str]:
    ps = r["metrics"]["per_step"]
    lines = ["| after step | AA | AIA | FM | AF | BWT | IM | unseen | update s | new cells | "
             "replayed cells | buffer bytes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, name in enumerate(names):
        s = r["steps"][k]
        im = ps["IM"][k] if "IM" in ps else None
        lines.append(
            f"| {name} | {pts(ps['AA'][k])} | {pts(ps['AIA'][k])} | {pts(ps['FM'][k])} | "
            f"{pts(ps['AF_first_last'][k])} | {pts(ps['BWT'][k], True)} | {pts(im, True)} | "
            f"{pts(ps['UA'][k])} | {s['update_s']:.2f} | {s['new_cells']:,} | "
            f"{s['replay_cells']:,} | {s['buffer_bytes']:,} |")
    return lines


def write_markdown(results: dict[str, Any], out: Path) -> Path:
    names = results["columns"]
    setup = results["setup"]
    lines = [f"# Continual-learning benchmark — {results['title']}", ""]
    lines += [f"Command: `{setup['command']}`  ",
              f"Backbone: `{setup['backbone']['card']}` ({setup['backbone']['name']}, "
              f"{setup['backbone']['variant']}, sha256 {setup['backbone']['sha256'][:12]}…, "
              f"C = {setup['backbone']['feature_dim']}, grid {setup['backbone']['grid']})  ",
              f"Machine: {setup['machine']['cpu']}, {setup['machine']['logical_cpus']} CPUs, "
              f"load average at start {_load(setup['machine'].get('load_average'))}  ",
              f"Date: {setup['date']}; durations: {results['durations_text']}", ""]
    lines += ["## Stream", "", *results["stream_text"], ""]
    lines += ["| step | season | train sources | train frames | train cells | test sources | "
              "test frames | test cells | test: most common class (share) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for s in results["stream"]["steps"]:
        share = s["test_class_share"]
        top = max(share, key=lambda c: share[c])
        lines.append(f"| {s['name']} | {s['season']} | {s['train_sources']} | "
                     f"{s['train_frames']:,} | {s['train_cells']:,} | {s['test_sources']} | "
                     f"{s['test_frames']:,} | {s['test_cells']:,} | {top} "
                     f"({pts(share[top])} %) |")
    lines += ["", "The last column is the per-cell accuracy of always answering the most common "
              "class: the floor a useful adapter must clear (balanced accuracy and mIoU do not "
              "reward it)."]
    seeds = setup["seeds"]
    lines += ["", "Numbers are per-cell accuracy in percent (points), the mean over "
              f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} {seeds} (each seed: its own "
              "buffer selection and training; min–max over seeds in brackets). \"AA on mIoU\" "
              "and \"AA on bal. acc.\" are the same average computed on mean IoU and on "
              "balanced accuracy (mean recall over the classes present). FM = best earlier "
              "accuracy − now (ours); AF = accuracy right after training a season − now "
              "(Avalanche's \"forgetting\", = −BWT). IM = joint's a[k][k] − a[k][k] (same "
              "seed). Unseen = accuracy on test sets of steps not trained yet. Formulas: "
              "docs/bench.md.", ""]
    shares = [max(s["test_class_share"].values()) for s in results["stream"]["steps"]]
    lines += ["## Summary (after the last step)", "", *_summary_table(results), "",
              f"For scale: always answering each test set's most common class would score a "
              f"final AA of {pts(sum(shares) / len(shares))} in per-cell accuracy (and only "
              "1 / (classes present) in balanced accuracy).", ""]
    best = results.get("best")
    if best:
        lines += [f"Best final AA: **{best['strategy']}** ({pts(best['AA'])}); best among "
                  f"strategies a robot can run (joint excluded): **{best['robot_strategy']}** "
                  f"({pts(best['robot_AA'])}).", ""]
    if results.get("acceptance"):
        lines += ["## Acceptance (issue 5)", ""]
        lines += ["- " + verdict_line(a["passed"], a.get("kind", QUALITY), a["text"])
                  for a in results["acceptance"]]
        lines.append("")
    lines += [f"![accuracy matrices]({MATRIX_PNG})", "", f"![accuracy over time]({CURVES_PNG})",
              ""]
    if results.get("samples_png"):
        lines += ["## Sample images of each step", "", f"![samples]({SAMPLES_PNG})", ""]
    lines += ["## Per strategy", "",
              "Rows: after training through that step; columns: that step's test set; the mean "
              "over seeds. *Italic*: not trained on yet (forward view). Per-step metrics are "
              "means over seeds; update seconds the median.", ""]
    for name, r in results["strategies"].items():
        c = r["cost"]
        per_seed = r["metrics"]["final_per_seed"]
        seed_line = ([f"Per seed {r['seeds']}: final AA "
                      + ", ".join(pts(v) for v in per_seed["AA"]) + "; FM "
                      + ", ".join(pts(v) for v in per_seed["FM"]) + ".", ""]
                     if len(r["seeds"]) > 1 else [])
        lines += [f"### {name}", "", *_matrix_table(r["matrices"]["accuracy"], names), "",
                  *seed_line, *_step_table(r, names), "",
                  f"Learner process: peak RSS {c['peak_rss_mb']:.0f} MB, of which "
                  f"{c['baseline_rss_mb']:.0f} MB before the first retrain (Python, torch, "
                  f"onnxruntime, the test sets); update {c['update_s_total']:.1f} s over "
                  f"{len(names)} steps; process wall {c['process_wall_s']:.0f} s.", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


# --- plots --------------------------------------------------------------------------------

def _style(name: str, i: int) -> tuple[str, str, str]:
    if name in _STYLE:
        return _STYLE[name]
    import matplotlib

    return (matplotlib.colormaps["tab10"](i % 10), "-", "o")


def plot_matrices(results: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = results["columns"]
    strategies = list(results["strategies"])
    n = len(strategies)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    t = len(names)
    cell = 0.62 + 0.1 * max(0, 6 - t)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * (t * cell + 1.4), rows * (t * cell + 1.2)),
                             squeeze=False, constrained_layout=True)
    mats = [np.array(results["strategies"][s]["matrices"]["accuracy"]) * 100 for s in strategies]
    vmin = min(float(m.min()) for m in mats)
    vmin = max(0.0, math.floor(vmin / 10) * 10)
    image = None
    for ax, name, m in zip(axes.flat, strategies, mats, strict=False):
        image = ax.imshow(m, cmap="viridis", vmin=vmin, vmax=100)
        for k in range(t):
            for j in range(t):
                v = m[k, j]
                colour = "white" if v < vmin + 0.55 * (100 - vmin) else "black"
                ax.text(j, k, f"{v:.0f}", ha="center", va="center", fontsize=9, color=colour,
                        fontstyle="italic" if j > k else "normal",
                        alpha=0.65 if j > k else 1.0)
        # the staircase between trained (j <= k) and not yet trained (j > k)
        xs = [-0.5] + [v for k in range(t) for v in (k + 0.5, k + 0.5)]
        ys = [-0.5] + [v for k in range(t) for v in (k - 0.5, k + 0.5)]
        ax.plot(xs[: 2 * t], ys[: 2 * t], color="white", lw=1.2)
        f = results["strategies"][name]["metrics"]["final"]
        ax.set_title(f"{name}\nAA {pts(f['AA'])}  FM {pts(f['FM'])}", fontsize=10)
        ax.set_xticks(range(t), [s.replace("_", " ") for s in names], rotation=35, ha="right",
                      fontsize=8)
        ax.set_yticks(range(t), [s.replace("_", " ") for s in names], fontsize=8)
        ax.set_xlabel("test set of step", fontsize=8)
        ax.set_ylabel("after training", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="per-cell accuracy %")
    n_seeds = len(results["setup"]["seeds"])
    fig.suptitle(f"Accuracy matrix a[k][j] — {results['title']}, mean over {n_seeds} "
                 f"seed{'s' if n_seeds > 1 else ''} (italic: not trained yet)",
                 fontsize=12)
    path = out / MATRIX_PNG
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(results: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.replace("_", " ") for s in results["columns"]]
    t = len(names)
    x = np.arange(t)
    fig, axes = plt.subplots(1, 3, figsize=(16.5, 4.6), layout="constrained")
    panels = [
        ("AA$_k$: mean over the seasons seen so far", lambda m, aa: aa),
        (f"the first season ({names[0]}): a[k][0]", lambda m, aa: m[:, 0]),
        ("the season just trained: a[k][k]", lambda m, aa: np.diag(m)),
    ]
    for i, (title, pick) in enumerate(panels):
        ax = axes[i]
        for n, (name, r) in enumerate(results["strategies"].items()):
            m = np.array(r["matrices"]["accuracy"]) * 100
            aa = np.array(r["metrics"]["per_step"]["AA"]) * 100
            colour, ls, marker = _style(name, n)
            ax.plot(x, pick(m, aa), ls, color=colour, marker=marker, label=name, lw=1.8,
                    ms=6)
        ax.set_title(title, fontsize=11)
        ax.set_xticks(x, [f"after\n{s}" for s in names], fontsize=8)
        ax.set_ylabel("per-cell accuracy %")
        ax.grid(alpha=0.3)
    lo = min(ax.get_ylim()[0] for ax in axes)
    for ax in axes:
        ax.set_ylim(lo, 100)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=10, frameon=False)
    n_seeds = len(results["setup"]["seeds"])
    fig.suptitle(f"Accuracy over the stream — {results['title']} (mean over {n_seeds} "
                 f"seed{'s' if n_seeds > 1 else ''})", fontsize=12)
    path = out / CURVES_PNG
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(results: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [write_json(results, out), plot_matrices(results, out), plot_curves(results, out),
            write_markdown(results, out)]
