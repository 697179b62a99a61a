"""`gardenbot bench season-probe`: how much the seasons differ, seen by a simple classifier.

A hand-crafted feature per 16x16 cell (colour means and deviations, a saturation-weighted hue
histogram, gradient energy and orientation, fine-texture energy) and a per-cell classifier —
softmax regression, then a tiny MLP — are trained on the benchmark set's training gardens and
tested on its held-out gardens (numpy only):

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

from robot.seeing.labels import cell_labels
from robot.seeing.recording import Recording

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


class CellClassifier:
    """Per-cell classifier on standardised features: softmax regression (``hidden=0``) or a
    one-hidden-layer ReLU network (a "tiny adapter"), trained with class-balanced mini-batch
    Adam in numpy. ``fit`` continues from the current weights, which is plain fine-tuning."""

    def __init__(self, dim: int, hidden: int = 0, classes: int = NUM_CLASSES, seed: int = 0,
                 l2: float = 1e-4) -> None:
        self.rng = np.random.default_rng(seed)
        shapes = [(dim, classes), (classes,)] if hidden == 0 else [
            (dim, hidden), (hidden,), (hidden, classes), (classes,)]
        self.params = [np.zeros(sh, np.float32) if len(sh) == 1 or hidden == 0 else
                       (self.rng.standard_normal(sh) / np.sqrt(sh[0])).astype(np.float32)
                       for sh in shapes]
        self.classes = classes
        self.l2 = l2
        self.mu: np.ndarray | None = None
        self.sd: np.ndarray | None = None
        self._m = [np.zeros_like(p) for p in self.params]
        self._v = [np.zeros_like(p) for p in self.params]
        self._t = 0

    def _forward(self, xn: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if len(self.params) == 2:
            return xn @ self.params[0] + self.params[1], None
        h = np.maximum(xn @ self.params[0] + self.params[1], 0.0)
        return h @ self.params[2] + self.params[3], h

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int = 6, batch: int = 512,
            lr: float = 0.01) -> CellClassifier:
        if self.mu is None:  # the first data fixes the scaling, as a deployed adapter would
            self.mu, self.sd = x.mean(0), x.std(0) + 1e-6
        xn = ((x - self.mu) / self.sd).astype(np.float32)
        counts = np.bincount(y, minlength=self.classes).astype(np.float32)
        weight = (len(y) / (self.classes * np.maximum(counts, 1)))[y].astype(np.float32)
        eye = np.eye(self.classes, dtype=np.float32)
        for _ in range(epochs):
            order = self.rng.permutation(len(y))
            for start in range(0, len(y), batch):
                idx = order[start : start + batch]
                xb, w = xn[idx], weight[idx][:, None]
                z, h = self._forward(xb)
                z -= z.max(1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(1, keepdims=True)
                g = (p - eye[y[idx]]) * w / len(idx)
                if h is None:
                    grads = [xb.T @ g, g.sum(0)]
                else:
                    gh = (g @ self.params[2].T) * (h > 0)
                    grads = [xb.T @ gh, gh.sum(0), h.T @ g, g.sum(0)]
                self._adam(grads, lr)
        return self

    def _adam(self, grads: list[np.ndarray], lr: float) -> None:
        self._t += 1
        for p, g, m, v in zip(self.params, grads, self._m, self._v, strict=True):
            if p.ndim == 2:
                g = g + self.l2 * p
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= lr * (m / (1 - 0.9**self._t)) / (np.sqrt(v / (1 - 0.999**self._t)) + 1e-8)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._forward(((x - self.mu) / self.sd).astype(np.float32))[0].argmax(1)


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
    from tools.garden.benchmark import load_manifest

    manifest = load_manifest(root)
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


def _subsample(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(y) <= n:
        return x, y
    idx = np.random.default_rng(seed).choice(len(y), n, replace=False)
    return x[idx], y[idx]


def evaluate(data: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], hidden: int,
             max_cells: int = 60_000) -> dict[str, Any]:
    """Single-step, joint and sequential results for one classifier size (0 = linear)."""
    steps = list(data)
    dim = next(iter(data.values()))["train"][0].shape[1]
    train = {s: _subsample(*data[s]["train"], max_cells, k) for k, s in enumerate(steps)}

    def test_all(model: CellClassifier) -> dict[str, dict[str, float]]:
        return {t: scores(data[t]["test"][1], model.predict(data[t]["test"][0])) for t in steps}

    single = {s: test_all(CellClassifier(dim, hidden).fit(*train[s])) for s in steps}
    x_all = np.concatenate([train[s][0] for s in steps])
    y_all = np.concatenate([train[s][1] for s in steps])
    joint = test_all(CellClassifier(dim, hidden).fit(*_subsample(x_all, y_all, 2 * max_cells,
                                                                   99), epochs=8))
    seq = CellClassifier(dim, hidden)
    after: list[dict[str, float]] = []
    for s in steps:
        seq.fit(*train[s])
        after.append({t: v["accuracy"] for t, v in test_all(seq).items()})
    forgetting = {s: max(after[j][s] for j in range(k, len(steps) - 1)) - after[-1][s]
                  for k, s in enumerate(steps[:-1])}
    return {"hidden": hidden, "single_season": single, "joint": joint,
            "sequential_accuracy": after, "sequential_forgetting": forgetting}


def format_report(result: dict[str, Any]) -> str:
    steps = list(result["joint"])
    width = max(len(s) for s in steps) + 2
    head = " " * (width + 6) + "".join(f"{s:>{width}}" for s in steps)
    name = "softmax regression" if result["hidden"] == 0 else \
        f"tiny MLP ({result['hidden']} hidden units)"
    lines = [f"{name} on per-cell colour/texture features; tested on the held-out gardens",
             "", "accuracy: trained on one step (rows), tested on each step (columns)", head]

    def row(label: str, values: dict[str, float]) -> str:
        return f"{label:<{width + 6}}" + "".join(f"{values[t]:>{width}.3f}" for t in steps)

    for s in steps:
        lines.append(row(s, {t: v["accuracy"] for t, v in result["single_season"][s].items()}))
    lines.append(row("joint", {t: v["accuracy"] for t, v in result["joint"].items()}))
    lines += ["", "macro-F1, same layout", head]
    for s in steps:
        lines.append(row(s, {t: v["macro_f1"] for t, v in result["single_season"][s].items()}))
    lines.append(row("joint", {t: v["macro_f1"] for t, v in result["joint"].items()}))
    lines += ["", "plain sequential fine-tuning: accuracy after each step", head]
    for s, acc in zip(steps, result["sequential_accuracy"], strict=True):
        lines.append(row("after " + s, acc))
    lines.append("forgetting at the end (best earlier accuracy - final): " + ", ".join(
        f"{s} {v:+.3f}" for s, v in result["sequential_forgetting"].items()))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench season-probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="a benchmark set (default: generate the standard set in a "
                   "temporary folder first, about a minute)")
    p.add_argument("--frame-step", type=int, default=2,
                   help="use every n-th labelled frame (default 2)")
    p.add_argument("--hidden", type=int, default=32,
                   help="hidden units of the tiny MLP run after the linear one (default 32; "
                   "0 or less: linear only)")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    if args.frame_step < 1:
        p.error("--frame-step must be >= 1")
    with tempfile.TemporaryDirectory(prefix="gardenbot-probe-") as tmp:
        root = Path(args.data) if args.data else Path(tmp) / "bench"
        if args.data is None:
            from tools.garden.benchmark import full_plan, write_benchmark

            write_benchmark(root, full_plan())
        data = load_set(root, args.frame_step)  # a bad or missing manifest: a BenchError
    results = [evaluate(data, 0)] + ([evaluate(data, args.hidden)] if args.hidden > 0 else [])
    print("\n\n".join(format_report(r) for r in results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0
