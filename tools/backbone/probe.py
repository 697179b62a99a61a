"""Linear probes on frozen per-cell features, and the hand-crafted colour-and-texture baseline.

A probe is multinomial logistic regression on standardised features, fitted full-batch with
L-BFGS: it measures what the features already separate, not what a bigger head could learn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from robot.common.classes import UNLABELLED
from robot.seeing.labels import cell_labels

FeatureFn = Callable[[np.ndarray], np.ndarray]  # BGR uint8 (H, W, 3) -> (h, w, C) float32


@dataclass(frozen=True)
class ProbeScore:
    accuracy: float
    macro_f1: float
    per_class_f1: dict[int, float]
    n: int

    def as_dict(self) -> dict:
        return {"accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4),
                "per_class_f1": {str(k): round(v, 4) for k, v in self.per_class_f1.items()},
                "n": self.n}


def colour_texture_features(bgr: np.ndarray, stride: int = 16) -> np.ndarray:
    """Per cell: BGR and HSV means and stds, a colour histogram, gradient energy → (h, w, 37)."""
    H, W = bgr.shape[:2]
    h, w = H // stride, W // stride
    img = bgr[: h * stride, : w * stride].astype(np.float32) / 255.0
    hsv = cv2.cvtColor(bgr[: h * stride, : w * stride], cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv /= np.array([180.0, 255.0, 255.0], np.float32)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    gx = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3))
    gy = np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    hue_bins = np.minimum((hsv[..., 0] * 12).astype(int), 11)
    sat_bins = np.minimum((hsv[..., 1] * 4).astype(int), 3)
    val_bins = np.minimum((hsv[..., 2] * 4).astype(int), 3)
    hist = np.concatenate([np.eye(12, dtype=np.float32)[hue_bins],
                           np.eye(4, dtype=np.float32)[sat_bins],
                           np.eye(4, dtype=np.float32)[val_bins]], axis=-1)
    per_pixel = np.concatenate([img, hsv, gx[..., None], gy[..., None], lap[..., None], hist], -1)
    squares = np.concatenate([img, hsv], -1) ** 2

    def cell_mean(a: np.ndarray) -> np.ndarray:
        c = a.shape[-1]
        return a.reshape(h, stride, w, stride, c).mean(axis=(1, 3))

    means = cell_mean(per_pixel)
    stds = np.sqrt(np.maximum(cell_mean(squares) - means[..., :6] ** 2, 0.0))
    return np.concatenate([means, stds], -1).astype(np.float32)


def cells_from_frames(
    frames: Iterable[tuple[np.ndarray, np.ndarray]], feature_fn: FeatureFn, num_classes: int,
    min_purity: float = 0.75,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features and labels of every labelled cell; also which frame each cell came from."""
    xs, ys, fid = [], [], []
    for i, (img, lab) in enumerate(frames):
        feats = feature_fn(img)
        cells = cell_labels(lab, feats.shape[:2], num_classes, min_purity)
        keep = cells != UNLABELLED
        xs.append(feats[keep])
        ys.append(cells[keep])
        fid.append(np.full(int(keep.sum()), i, np.int32))
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64), np.concatenate(fid)


@dataclass
class LinearProbe:
    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray
    bias: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.std
        return (z @ self.weight.T + self.bias).argmax(1)


def fit_probe(
    x: np.ndarray, y: np.ndarray, num_classes: int, l2: float = 1e-3, max_iter: int = 200,
    max_samples: int = 60000, seed: int = 0,
) -> LinearProbe:
    rng = np.random.default_rng(seed)
    if len(x) > max_samples:
        idx = rng.choice(len(x), max_samples, replace=False)
        x, y = x[idx], y[idx]
    mean = x.mean(0)
    std = x.std(0) + 1e-6
    xt = torch.from_numpy(((x - mean) / std).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    lin = torch.nn.Linear(x.shape[1], num_classes)
    torch.nn.init.zeros_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(lin.parameters(), lr=1.0, max_iter=max_iter,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xt), yt) + l2 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LinearProbe(mean, std, lin.weight.detach().numpy(), lin.bias.detach().numpy())


def score(pred: np.ndarray, y: np.ndarray) -> ProbeScore:
    per_class = {}
    for k in np.unique(y):
        tp = float(((pred == k) & (y == k)).sum())
        fp = float(((pred == k) & (y != k)).sum())
        fn = float(((pred != k) & (y == k)).sum())
        per_class[int(k)] = 2 * tp / max(2 * tp + fp + fn, 1.0)
    return ProbeScore(float((pred == y).mean()), float(np.mean(list(per_class.values()))),
                      per_class, len(y))
