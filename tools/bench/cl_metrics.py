"""Continual-learning metrics of an accuracy matrix — pure numpy, formulas in docs/bench.md.

``a[k][j]`` is the score on step j's test set after training through step k (k, j = 0..T-1;
the matrix is square: one column per step's test set). Entries above the diagonal (j > k) are
seasons not yet trained on; they feed only the forward view.

- AA_k  = mean_{j<=k} a[k][j]                          average accuracy (seen so far)
- AIA_k = mean_{i<=k} AA_i                             average incremental accuracy
- FM_k  = mean_{j<k} (max_{i<k} a[i][j] - a[k][j])     forgetting, ours: best earlier - now
- AF_k  = mean_{j<k} (a[j][j] - a[k][j])               Avalanche-style: first - last (= -BWT_k)
- BWT_k = mean_{j<k} (a[k][j] - a[j][j])               backward transfer
- IM_k  = a*[k][k] - a[k][k]                           intransigence, a* = joint training
- UA_k  = mean_{j>k} a[k][j]                           accuracy on seasons not yet seen

Undefined values (FM_0, AF_0, BWT_0, UA_{T-1}) are NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _matrix(a: Any) -> np.ndarray:
    m = np.asarray(a, np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"accuracy matrix must be square T x T with T >= 1; got {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("accuracy matrix holds NaN or infinite values")
    return m


def average_accuracy(a: Any) -> np.ndarray:
    m = _matrix(a)
    return np.array([m[k, : k + 1].mean() for k in range(len(m))])


def average_incremental_accuracy(a: Any) -> np.ndarray:
    aa = average_accuracy(a)
    return np.cumsum(aa) / np.arange(1, len(aa) + 1)


def forgetting(a: Any) -> np.ndarray:
    """FM_k: per earlier season, the best accuracy any earlier step had on it minus now."""
    m = _matrix(a)
    out = np.full(len(m), np.nan)
    for k in range(1, len(m)):
        out[k] = np.mean([m[:k, j].max() - m[k, j] for j in range(k)])
    return out


def first_minus_last_forgetting(a: Any) -> np.ndarray:
    """Avalanche's forgetting: accuracy right after training a season minus now (= -BWT_k)."""
    m = _matrix(a)
    out = np.full(len(m), np.nan)
    for k in range(1, len(m)):
        out[k] = np.mean([m[j, j] - m[k, j] for j in range(k)])
    return out


def backward_transfer(a: Any) -> np.ndarray:
    m = _matrix(a)
    out = np.full(len(m), np.nan)
    for k in range(1, len(m)):
        out[k] = np.mean([m[k, j] - m[j, j] for j in range(k)])
    return out


def intransigence(a: Any, a_joint: Any) -> np.ndarray:
    """IM_k: how much less the strategy learned of step k than joint training did."""
    m, mj = _matrix(a), _matrix(a_joint)
    if m.shape != mj.shape:
        raise ValueError(f"joint matrix {mj.shape} differs from {m.shape}")
    return np.diag(mj) - np.diag(m)


def unseen_accuracy(a: Any) -> np.ndarray:
    """UA_k: the forward view — accuracy on the seasons the learner has not trained on yet."""
    m = _matrix(a)
    out = np.full(len(m), np.nan)
    for k in range(len(m) - 1):
        out[k] = m[k, k + 1:].mean()
    return out


def _nan_mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else math.nan


def summarize(a: Any, a_joint: Any | None = None) -> dict[str, Any]:
    """Every metric per step (lists) and the final values (after the last step)."""
    m = _matrix(a)
    per_step = {
        "AA": average_accuracy(m), "AIA": average_incremental_accuracy(m), "FM": forgetting(m),
        "AF_first_last": first_minus_last_forgetting(m), "BWT": backward_transfer(m),
        "UA": unseen_accuracy(m),
    }
    if a_joint is not None:
        per_step["IM"] = intransigence(m, a_joint)
    final = {name: float(v[-1]) for name, v in per_step.items() if name != "UA"}
    final["UA_mean"] = _nan_mean(per_step["UA"])
    if "IM" in per_step:
        final["IM_mean"] = _nan_mean(per_step["IM"])
    return {"per_step": {k: [float(x) for x in v] for k, v in per_step.items()},
            "final": final}


def json_safe(x: Any) -> Any:
    """NaN/inf -> None, numpy scalars and arrays -> Python, recursively (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    return x
