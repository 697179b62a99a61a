"""The backbone's quality bar: linear probes on synthetic seasons and on real images.

(a) Synthetic: held-out gardens; a probe trained on one season is tested on all four, and one
trained on all seasons is tested on all. (b) YCOR: trained on the train split, tested on the
valid split as is and under a season-like colour shift. (c) Any labelled folder
(tools/backbone/folder.py, e.g. one's own garden photos): trained on its train images, tested
on its test images, as is and shifted. Each feature extractor is scored the same way, so the
backbone, the same net randomly initialised and the hand-crafted colour baseline sit side by
side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robot.common.classes import DEFAULT_CLASSES, SEASONS
from tools.backbone.data import manifest_recordings, recording_frames, season_shift, ycor_pairs
from tools.backbone.folder import LabelledFolder
from tools.backbone.probe import FeatureFn, cells_from_frames, fit_probe, score

log = logging.getLogger(__name__)

K = len(DEFAULT_CLASSES)


Pairs = list[tuple[np.ndarray, np.ndarray]]


def split_probe(feature_fn: FeatureFn, train: Pairs, test: Pairs, purity: float = 0.75,
                shift: float = 1.0) -> dict[str, Any]:
    """Fit on ``train``'s cells, score on ``test`` as is and (``shift`` > 0) season-shifted."""
    x, y, _ = cells_from_frames(train, feature_fn, K, purity)
    if len(np.unique(y)) < 2:
        raise ValueError("the training images have fewer than two classes in cells of the "
                         f"required purity ({purity}); lower --purity or label more")
    probe = fit_probe(x, y, K)
    xv, yv, _ = cells_from_frames(test, feature_fn, K, purity)
    out = {"clean": score(probe.predict(xv), yv).as_dict()}
    if shift > 0:
        xs, ys, _ = cells_from_frames([(season_shift(i, shift), lab) for i, lab in test],
                                      feature_fn, K, purity)
        out["colour_shifted"] = score(probe.predict(xs), ys).as_dict()
    return out


def ycor_probe(feature_fn: FeatureFn, ycor_dir: Path, size: tuple[int, int] = (320, 240),
               purity: float = 0.75, shift: float = 1.0) -> dict[str, Any]:
    train = list(ycor_pairs(Path(ycor_dir) / "train", size))
    valid = list(ycor_pairs(Path(ycor_dir) / "valid", size))
    if not train or not valid:
        raise ValueError(f"{ycor_dir}: expected train/ and valid/ with image and label pairs")
    return split_probe(feature_fn, train, valid, purity, shift)


def folder_probe(feature_fn: FeatureFn, folder: LabelledFolder,
                 size: tuple[int, int] = (320, 240), purity: float = 0.75, shift: float = 1.0,
                 ) -> dict[str, Any]:
    """A labelled folder: fit on its ``train`` images, score on its ``test`` images."""
    return split_probe(feature_fn, list(folder.pairs("train", size)),
                       list(folder.pairs("test", size)), purity, shift)


def _season_cells(manifest_dir: Path, role: str, feature_fn: FeatureFn, step: int,
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for season in SEASONS:
        paths = [Path(manifest_dir) / r["path"] for r in manifest_recordings(manifest_dir)
                 if r["season"] == season and r["role"] == role and r["year"] == 0]
        frames = [(img, lab) for img, lab, _ in
                  recording_frames(paths, step, (320, 240), labelled_only=True)
                  if lab is not None]
        x, y, _ = cells_from_frames(frames, feature_fn, K)
        out[season] = (x, y)
    return out


def synthetic_probe(feature_fn: FeatureFn, benchmark_dir: Path, step: int = 4,
                    ) -> dict[str, Any]:
    """Season-by-season probe matrix on held-out gardens, plus all-seasons-together."""
    train = _season_cells(benchmark_dir, "train", feature_fn, step)
    test = _season_cells(benchmark_dir, "test", feature_fn, step)
    matrix: dict[str, dict[str, dict]] = {}
    for s_train in SEASONS:
        probe = fit_probe(*train[s_train], K)
        matrix[s_train] = {s: score(probe.predict(test[s][0]), test[s][1]).as_dict()
                           for s in SEASONS}
    x_all = np.concatenate([train[s][0] for s in SEASONS])
    y_all = np.concatenate([train[s][1] for s in SEASONS])
    probe = fit_probe(x_all, y_all, K)
    joint = {s: score(probe.predict(test[s][0]), test[s][1]).as_dict() for s in SEASONS}
    off_diag = [matrix[a][b]["accuracy"] for a in SEASONS for b in SEASONS if a != b]
    return {
        "one_season_to_each": matrix,
        "all_to_each": joint,
        "summary": {
            "same_season_accuracy": round(float(np.mean(
                [matrix[s][s]["accuracy"] for s in SEASONS])), 4),
            "cross_season_accuracy": round(float(np.mean(off_diag)), 4),
            "all_seasons_accuracy": round(float(np.mean(
                [joint[s]["accuracy"] for s in SEASONS])), 4),
            "all_seasons_macro_f1": round(float(np.mean(
                [joint[s]["macro_f1"] for s in SEASONS])), 4),
        },
    }


def compare(extractors: dict[str, FeatureFn], benchmark_dir: Path | None, ycor_dir: Path | None,
            folders: dict[str, LabelledFolder] | None = None, purity: float = 0.75,
            shift: float = 1.0, progress: Callable[[str], None] = log.info) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, fn in extractors.items():
        r: dict[str, Any] = {}
        if benchmark_dir is not None:
            progress(f"probe {name}: synthetic seasons")
            r["synthetic"] = synthetic_probe(fn, benchmark_dir)
        if ycor_dir is not None:
            progress(f"probe {name}: ycor")
            r["ycor"] = ycor_probe(fn, ycor_dir, purity=purity, shift=shift)
        for folder_name, folder in (folders or {}).items():
            progress(f"probe {name}: {folder_name}")
            r[folder_name] = folder_probe(fn, folder, purity=purity, shift=shift)
        results[name] = r
    return results


def mean_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The element-wise mean of probe results of the same shape (e.g. several random seeds)."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: mean_of([r[k] for r in runs]) for k in first if all(k in r for r in runs)}
    if isinstance(first, (int, float)):
        return round(float(np.mean(runs)), 4)
    return first


def summary_table(results: dict[str, Any]) -> str:
    """A markdown table, one row per feature extractor: macro-F1 (and accuracy where the
    classes are unbalanced enough to matter), clean and shifted, for every data set probed."""

    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.3f}"

    datasets: list[str] = []
    for r in results.values():
        datasets += [d for d in r if d not in datasets]
    head, cols = ["features"], []
    for d in datasets:
        if d == "synthetic":
            head += ["synth same-season acc", "synth cross-season acc", "synth all→all acc",
                     "synth all→all F1"]
            cols += [("synthetic", k) for k in ("same_season_accuracy", "cross_season_accuracy",
                                                "all_seasons_accuracy", "all_seasons_macro_f1")]
        else:
            label = "YCOR" if d == "ycor" else d
            head += [f"{label} F1", f"{label} shifted F1"]
            cols += [(d, "clean"), (d, "colour_shifted")]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        cells = [name]
        for d, k in cols:
            if d == "synthetic":
                cells.append(f(r.get(d, {}).get("summary", {}).get(k)))
            else:
                cells.append(f(r.get(d, {}).get(k, {}).get("macro_f1")))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
