"""`gardenbot bench season-probe`: how much the seasons differ, seen by a simple classifier.

A hand-crafted feature per 16x16 cell (colour means and deviations, chromaticity, gradient
energy, orientation and fine-texture energy) and a softmax regression (numpy) are trained on the
benchmark set's training gardens and tested on its held-out gardens:

- one season only -> every season (the diagonal is in-season accuracy, the rest is the shift),
- all seasons together -> every season (can the classes be told apart in each season at all?),
- plain sequential fine-tuning through the stream -> forgetting per season.

These numbers are the reference the learned backbone features are compared with
(docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robot.labels import cell_labels
from robot.recording import Recording

CELL_PX = 16
NUM_CLASSES = 5
HUE_BINS = 8
N_FEATURES = 3 + 3 + HUE_BINS + 2 + 4


def cell_features(image: np.ndarray, cell: int = CELL_PX) -> np.ndarray:
    """(h, w, N_FEATURES) float32 features of each ``cell`` x ``cell`` block of a BGR image.

    Colour: BGR means and deviations, a hue histogram weighted by saturation, mean saturation
    and value. Texture: gradient energy, its orientation (horizontal vs vertical edges), fine
    detail energy and its share of the gradient energy.
    """
    H, W = image.shape[:2]
    h, w = H // cell, W // cell

    def mean_blocks(a: np.ndarray) -> np.ndarray:
        a = a[: h * cell, : w * cell]
        return a.reshape(h, cell, w, cell, *a.shape[2:]).mean(axis=(1, 3))

    img = image.astype(np.float32) / 255.0
    mean = mean_blocks(img)
    std = np.sqrt(np.maximum(mean_blocks(img * img) - mean * mean, 0.0))
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    sat = hsv[..., 1].astype(np.float32) / 255.0
    hue_bin = (hsv[..., 0].astype(np.int32) * HUE_BINS) // 180
    hist = [mean_blocks(np.where(hue_bin == k, sat, 0.0)) for k in range(HUE_BINS)]
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    gxa = mean_blocks(np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)))
    gya = mean_blocks(np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)))
    energy = gxa + gya
    fine = mean_blocks(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.0)))
    feats = [mean, std, np.stack(hist, -1), mean_blocks(sat)[..., None],
             mean_blocks(hsv[..., 2].astype(np.float32) / 255.0)[..., None],
             energy[..., None], ((gxa - gya) / (energy + 1e-3))[..., None], fine[..., None],
             (fine / (energy + 1e-3))[..., None]]
    return np.concatenate(feats, axis=-1).astype(np.float32)


def recording_cells(path: Path, frame_step: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the labelled cells of a recording (every ``frame_step``-th
    labelled frame)."""
    rec = Recording(path)
    xs, ys = [], []
    wanted = set(rec.labelled[::frame_step])
    for frame in rec.frames(labelled_only=True):
        if frame.index not in wanted or frame.labels is None:
            continue
        f = cell_features(frame.image)
        lab = cell_labels(frame.labels, f.shape[:2], NUM_CLASSES)
        keep = lab != 255
        xs.append(f[keep])
        ys.append(lab[keep])
    if not xs:
        return np.zeros((0, N_FEATURES), np.float32), np.zeros(0, np.int64)
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)


class SoftmaxProbe:
    """Multinomial logistic regression trained by full-batch gradient descent (numpy)."""

    def __init__(self, dim: int, classes: int = NUM_CLASSES, l2: float = 1e-3) -> None:
        self.w = np.zeros((dim, classes))
        self.b = np.zeros(classes)
        self.l2 = l2
        self.mu: np.ndarray | None = None
        self.sd: np.ndarray | None = None

    def _norm(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mu) / self.sd

    def fit(self, x: np.ndarray, y: np.ndarray, steps: int = 400, lr: float = 0.5,
            refit_scaler: bool = True) -> SoftmaxProbe:
        if refit_scaler or self.mu is None:
            self.mu, self.sd = x.mean(0), x.std(0) + 1e-6
        xn = self._norm(x)
        onehot = np.eye(self.w.shape[1])[y]
        # balance classes: a lawn-dominated set would otherwise ignore the rare ones
        counts = np.bincount(y, minlength=self.w.shape[1]).astype(float)
        weight = (len(y) / (len(counts) * np.maximum(counts, 1)))[y][:, None]
        for _ in range(steps):
            p = self._proba_n(xn)
            g = (p - onehot) * weight / len(y)
            self.w -= lr * (xn.T @ g + self.l2 * self.w)
            self.b -= lr * g.sum(0)
        return self

    def _proba_n(self, xn: np.ndarray) -> np.ndarray:
        z = xn @ self.w + self.b
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._proba_n(self._norm(x)).argmax(1)


def scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    acc = float((y == pred).mean()) if len(y) else float("nan")
    f1s = []
    for k in range(NUM_CLASSES):
        tp = float(((pred == k) & (y == k)).sum())
        fp = float(((pred == k) & (y != k)).sum())
        fn = float(((pred != k) & (y == k)).sum())
        if tp + fn > 0:
            f1s.append(2 * tp / max(2 * tp + fp + fn, 1e-9))
    return {"accuracy": acc, "macro_f1": float(np.mean(f1s)) if f1s else float("nan")}


def load_set(root: Path, frame_step: int) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{step name: {"train"|"test": (features, labels)}} from a benchmark manifest."""
    manifest = json.loads((root / "manifest.json").read_text())
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for step in manifest["steps"]:
        parts: dict[str, list] = {"train": [], "test": []}
        for rec in step["recordings"]:
            parts[rec["role"]].append(recording_cells(root / rec["path"], frame_step))
        out[step["name"]] = {
            role: (np.concatenate([x for x, _ in v]), np.concatenate([y for _, y in v]))
            for role, v in parts.items()
        }
    return out


def evaluate(data: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> dict[str, Any]:
    steps = list(data)
    single: dict[str, dict[str, dict[str, float]]] = {}
    for s in steps:
        probe = SoftmaxProbe(data[s]["train"][0].shape[1]).fit(*data[s]["train"])
        single[s] = {t: scores(data[t]["test"][1], probe.predict(data[t]["test"][0]))
                     for t in steps}
    x_all = np.concatenate([data[s]["train"][0] for s in steps])
    y_all = np.concatenate([data[s]["train"][1] for s in steps])
    joint_probe = SoftmaxProbe(x_all.shape[1]).fit(x_all, y_all, steps=600)
    joint = {t: scores(data[t]["test"][1], joint_probe.predict(data[t]["test"][0]))
             for t in steps}
    # plain fine-tuning through the stream: each step starts from the last weights and scaler
    seq = SoftmaxProbe(x_all.shape[1])
    after: list[dict[str, float]] = []
    for k, s in enumerate(steps):
        seq.fit(*data[s]["train"], steps=200, refit_scaler=(k == 0))
        after.append({t: scores(data[t]["test"][1], seq.predict(data[t]["test"][0]))["accuracy"]
                      for t in steps})
    forgetting = {}
    for k, s in enumerate(steps[:-1]):
        best = max(after[j][s] for j in range(k, len(steps) - 1))
        forgetting[s] = best - after[-1][s]
    return {"single_season": single, "joint": joint, "sequential_accuracy": after,
            "sequential_forgetting": forgetting}


def format_report(result: dict[str, Any]) -> str:
    steps = list(result["joint"])
    width = max(len(s) for s in steps) + 2
    lines = ["accuracy of per-cell softmax on colour/texture features, held-out gardens",
             "", "train on one step (rows) -> test on each step (columns)",
             " " * width + "".join(f"{s:>{width}}" for s in steps)]
    for s in steps:
        row = result["single_season"][s]
        lines.append(f"{s:<{width}}" + "".join(f"{row[t]['accuracy']:>{width}.3f}" for t in steps))
    lines.append(f"{'joint':<{width}}" + "".join(
        f"{result['joint'][t]['accuracy']:>{width}.3f}" for t in steps))
    lines += ["", "macro-F1, same layout"]
    for s in steps:
        row = result["single_season"][s]
        lines.append(f"{s:<{width}}" + "".join(f"{row[t]['macro_f1']:>{width}.3f}" for t in steps))
    lines.append(f"{'joint':<{width}}" + "".join(
        f"{result['joint'][t]['macro_f1']:>{width}.3f}" for t in steps))
    lines += ["", "plain sequential fine-tuning: accuracy after each step (rows)"]
    for s, row in zip(steps, result["sequential_accuracy"], strict=True):
        lines.append(f"{'after ' + s:<{width + 6}}" + "".join(
            f"{row[t]:>{width}.3f}" for t in steps))
    lines.append("forgetting (best earlier accuracy - final): " + ", ".join(
        f"{s} {v:+.3f}" for s, v in result["sequential_forgetting"].items()))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench season-probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="a benchmark set (default: generate the standard set in a "
                   "temporary folder first, about a minute)")
    p.add_argument("--frame-step", type=int, default=2,
                   help="use every n-th labelled frame (default 2)")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    if args.frame_step < 1:
        p.error("--frame-step must be >= 1")
    with tempfile.TemporaryDirectory(prefix="gardenbot-probe-") as tmp:
        root = Path(args.data) if args.data else Path(tmp) / "bench"
        if args.data is None:
            from tools.garden.benchmark import full_plan, write_benchmark

            write_benchmark(root, full_plan())
        elif not (root / "manifest.json").is_file():
            p.error(f"{root}: no manifest.json (make one with gardenbot synth --benchmark)")
        result = evaluate(load_set(root, args.frame_step))
    print(format_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0
