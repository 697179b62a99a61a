"""The backbone's quality bar: linear probes on synthetic seasons and on real YCOR images.

(a) Synthetic: held-out gardens; a probe trained on one season is tested on all four, and one
trained on all seasons is tested on all. (b) YCOR: trained on the train split, tested on the
valid split as is and under a season-like colour shift. Each feature extractor is scored the
same way, so the SSL backbone, the same net randomly initialised and the hand-crafted colour
baseline sit side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robot.common.classes import DEFAULT_CLASSES, SEASONS
from tools.backbone.data import manifest_recordings, recording_frames, season_shift, ycor_pairs
from tools.backbone.probe import FeatureFn, cells_from_frames, fit_probe, score

log = logging.getLogger(__name__)

K = len(DEFAULT_CLASSES)


def ycor_probe(feature_fn: FeatureFn, ycor_dir: Path, size: tuple[int, int] = (320, 240),
               ) -> dict[str, Any]:
    train = list(ycor_pairs(Path(ycor_dir) / "train", size))
    valid = list(ycor_pairs(Path(ycor_dir) / "valid", size))
    if not train or not valid:
        raise ValueError(f"{ycor_dir}: expected train/ and valid/ with image and label pairs")
    x, y, _ = cells_from_frames(train, feature_fn, K)
    probe = fit_probe(x, y, K)
    xv, yv, _ = cells_from_frames(valid, feature_fn, K)
    xs, ys, _ = cells_from_frames([(season_shift(i), lab) for i, lab in valid], feature_fn, K)
    return {"clean": score(probe.predict(xv), yv).as_dict(),
            "colour_shifted": score(probe.predict(xs), ys).as_dict()}


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
            progress: Callable[[str], None] = log.info) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, fn in extractors.items():
        r: dict[str, Any] = {}
        if benchmark_dir is not None:
            progress(f"probe {name}: synthetic seasons")
            r["synthetic"] = synthetic_probe(fn, benchmark_dir)
        if ycor_dir is not None:
            progress(f"probe {name}: ycor")
            r["ycor"] = ycor_probe(fn, ycor_dir)
        results[name] = r
    return results


def summary_table(results: dict[str, Any]) -> str:
    """A markdown table, one row per feature extractor."""
    head = ("| features | synth same-season acc | synth cross-season acc | synth all→all acc "
            "| synth all→all F1 | YCOR acc | YCOR F1 | YCOR shifted acc | YCOR shifted F1 |")
    rows = [head, "|" + "---|" * 9]
    for name, r in results.items():
        s = r.get("synthetic", {}).get("summary", {})
        y = r.get("ycor", {})

        def f(v: Any) -> str:
            return "–" if v is None else f"{v:.3f}"

        rows.append(
            f"| {name} | {f(s.get('same_season_accuracy'))} | {f(s.get('cross_season_accuracy'))}"
            f" | {f(s.get('all_seasons_accuracy'))} | {f(s.get('all_seasons_macro_f1'))}"
            f" | {f(y.get('clean', {}).get('accuracy'))} | {f(y.get('clean', {}).get('macro_f1'))}"
            f" | {f(y.get('colour_shifted', {}).get('accuracy'))}"
            f" | {f(y.get('colour_shifted', {}).get('macro_f1'))} |"
        )
    return "\n".join(rows)
