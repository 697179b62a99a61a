"""What every strategy shares: the data it sees, batch sampling and the SGD loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from robot.adapter.state import LearnerState
from robot.common.errors import LearnerCancelled
from robot.learning.config import TrainConfig
from robot.learning.learner.losses import partial_label_loss
from robot.learning.learner.model import CellAdapter, init_mlp_arrays, mlp_arrays

_CHECK_EVERY_STEPS = 10


@dataclass(frozen=True, eq=False)
class FitInput:
    """Everything a strategy sees. Features are already standardised (float32)."""

    state: LearnerState  # the parent: classes already grown, normaliser already fixed
    z_new: np.ndarray
    y_new: np.ndarray  # int64 label codes: class id >= 0, or -bitmask for a set label
    season_new: np.ndarray
    z_old: np.ndarray  # replay buffer cells (empty for strategies that do not replay)
    y_old: np.ndarray
    season_old: np.ndarray
    config: TrainConfig
    rng: np.random.Generator
    report: Callable[[float], None]  # fraction done of this fit, 0..1
    should_stop: Callable[[], bool]

    @property
    def num_classes(self) -> int:
        return len(self.state.classes)

    @property
    def feature_dim(self) -> int:
        return self.state.feature_dim


class Sampler:
    """Random minibatch indices, optionally with equal weight per class present."""

    def __init__(self, labels: np.ndarray, balanced: bool, rng: np.random.Generator) -> None:
        self.n = len(labels)
        self.rng = rng
        if balanced and self.n:
            # per distinct label code: each class and each set label weighs the same
            _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
            weights = 1.0 / counts[inverse.reshape(-1)]
            self.cdf: np.ndarray | None = np.cumsum(weights / weights.sum())
        else:
            self.cdf = None

    def draw(self, size: int) -> np.ndarray:
        if self.cdf is None:
            return self.rng.integers(self.n, size=size)
        return np.minimum(np.searchsorted(self.cdf, self.rng.random(size)), self.n - 1)


def tensors(z: np.ndarray, y: np.ndarray, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(z[idx]), torch.from_numpy(y[idx])


def start_mlp(fit: FitInput, fresh: bool = False) -> CellAdapter:
    """Continue from the parent's network, or start fresh (seeded) when there is none."""
    if not fresh and fit.state.kind == "mlp":
        return CellAdapter(mlp_arrays(fit.state.arrays), prefix="mlp.")
    arrays = init_mlp_arrays(fit.feature_dim, fit.num_classes, fit.config.bottleneck_dim,
                             fit.rng, prefix="mlp.")
    return CellAdapter(arrays, prefix="mlp.")


def run_sgd(fit: FitInput, model: torch.nn.Module, step: Callable[[], None]) -> None:
    """Adam over ``config.steps``; ``step`` computes the gradients of one minibatch."""
    steps = fit.config.steps
    opt = torch.optim.Adam(model.parameters(), lr=fit.config.learning_rate,
                           weight_decay=fit.config.weight_decay)
    model.train()
    for i in range(steps):
        if i % _CHECK_EVERY_STEPS == 0:
            if fit.should_stop():
                raise LearnerCancelled("retrain cancelled")
            fit.report(i / steps)
        opt.zero_grad(set_to_none=True)
        step()
        opt.step()
    model.eval()
    fit.report(1.0)


def cross_entropy_step(model: torch.nn.Module, batch: Callable[[], tuple[torch.Tensor,
                       torch.Tensor]]) -> Callable[[], None]:
    def step() -> None:
        z, y = batch()
        partial_label_loss(model(z), y).backward()
    return step


def mixed_batches(fit: FitInput, replay_fraction: float,
                  ) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """Batches of new cells and replayed cells in a fixed proportion (either may be empty)."""
    z_new, y_new = fit.z_new, fit.y_new
    b = fit.config.batch_size
    have_new, have_old = len(y_new) > 0, len(fit.y_old) > 0
    n_old = (round(b * replay_fraction) if have_new else b) if have_old else 0
    n_new = b - n_old
    new_s = Sampler(y_new, fit.config.class_balanced, fit.rng)
    old_s = Sampler(fit.y_old, fit.config.class_balanced, fit.rng)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        parts = []
        if n_new:
            parts.append(tensors(z_new, y_new, new_s.draw(n_new)))
        if n_old:
            parts.append(tensors(fit.z_old, fit.y_old, old_s.draw(n_old)))
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    return batch
