"""Per-cell classification scores: accuracy, balanced accuracy, IoU — pure numpy functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    idx = truth.astype(np.int64) * num_classes + pred.astype(np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores_from_confusion(cm: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy (mean recall over classes present), mean IoU, per class.

    Classes with no true cells are left out of the means (their recall is undefined).
    """
    total = int(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    true_n = cm.sum(1).astype(np.float64)
    pred_n = cm.sum(0).astype(np.float64)
    present = true_n > 0
    recall = np.divide(tp, true_n, out=np.zeros_like(tp), where=present)
    union = true_n + pred_n - tp
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=union > 0)
    return {
        "count": total,
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "mean_iou": float(iou[present].mean()) if present.any() else float("nan"),
        "per_class": {
            name: {"count": int(true_n[k]), "accuracy": float(recall[k]) if present[k] else None,
                   "iou": float(iou[k]) if present[k] else None}
            for k, name in enumerate(classes)
        },
    }


def classification_scores(
    truth: np.ndarray, pred: np.ndarray, classes: Sequence[str],
    seasons: np.ndarray | None = None,
) -> dict[str, Any]:
    """Overall scores, plus the same per season when ``seasons`` is given."""
    k = len(classes)
    out = scores_from_confusion(confusion_matrix(truth, pred, k), classes)
    if seasons is not None:
        seasons = np.asarray(seasons).astype(str)
        out["per_season"] = {
            str(s): scores_from_confusion(
                confusion_matrix(truth[seasons == s], pred[seasons == s], k), classes)
            for s in np.unique(seasons)
        }
    return out


def validation_score(scores: dict[str, Any]) -> float:
    """The one number publish compares: mean over seasons of per-season balanced accuracy.

    Every season seen so far weighs the same however many cells it has, so a candidate that
    gains on the new season by losing an old one does not pass.
    """
    per_season = scores.get("per_season")
    if per_season:
        values = [s["balanced_accuracy"] for s in per_season.values() if s["count"]]
        return float(np.mean(values)) if values else float("nan")
    return float(scores["balanced_accuracy"])
