"""What every strategy shares: the data it sees, batch sampling and the SGD loop."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from robot.adapter.state import LearnerState
from robot.common.errors import LearnerCancelled
from robot.learning.config import TrainConfig
from robot.learning.learner.losses import partial_label_loss
from robot.learning.learner.model import MLP_PARAMS, CellAdapter, init_mlp_arrays, mlp_arrays

log = logging.getLogger(__name__)

_CHECK_EVERY_STEPS = 10

# Adam's moments of parameter ``mlp.down.w`` are stored as ``opt.mlp.down.w.m`` / ``.v``, its
# step count and what the moments belong to in ``info["optimizer"]``.
OPT_PREFIX = "opt."
OPT_INFO = "optimizer"


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

    def __init__(self, labels: np.ndarray, balanced: bool, rng: np.random.Generator,
                 class_shares: np.ndarray | None = None) -> None:
        """``class_shares`` (per class id) makes each class drawn with that share instead."""
        self.n = len(labels)
        self.rng = rng
        self.cdf: np.ndarray | None = None
        if self.n and (balanced or class_shares is not None):
            # per distinct label code: each class, and each set label (a code < 0), is a group
            codes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
            inverse = inverse.reshape(-1)
            if class_shares is None:
                share = np.ones(len(codes))
            else:
                cs = np.asarray(class_shares, np.float64)
                other = float(cs.mean()) if len(cs) else 1.0  # a set: an average class's share
                share = np.array([cs[c] if 0 <= c < len(cs) else other for c in codes])
            weights = share[inverse] / counts[inverse]
            if weights.sum() > 0:
                self.cdf = np.cumsum(weights / weights.sum())

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
    arrays = init_mlp_arrays(fit.feature_dim, fit.num_classes, fit.config.width(),
                             fit.rng, prefix="mlp.")
    return CellAdapter(arrays, prefix="mlp.")


@dataclass(frozen=True)
class OptimizerState:
    """Adam's state after a retrain, to be kept in the learner state (see :func:`run_sgd`)."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)


def _signature(fit: FitInput, model: CellAdapter) -> dict[str, object]:
    """What Adam's moments belong to: the moments are only meaningful for the same parameters
    seeing the same inputs (backbone) and the same outputs (classes)."""
    return {"backbone_sha256": fit.state.backbone_sha256, "classes": list(fit.state.classes),
            "shapes": {model.prefix + k: list(v.shape) for k, v in _named(model).items()}}


def _named(model: CellAdapter) -> dict[str, torch.nn.Parameter]:
    return {name: model.p(name) for name in MLP_PARAMS}


def carried_moments(fit: FitInput, model: CellAdapter) -> tuple[dict[str, object] | None, str]:
    """The parent's Adam state for ``model``'s parameters, or None and why it is not used."""
    if not fit.config.carry_optimizer:
        return None, "carry_optimizer is off"
    info = fit.state.info.get(OPT_INFO)
    if not isinstance(info, dict):
        return None, "the parent has no optimiser state"
    sig = _signature(fit, model)
    for key, why in (("backbone_sha256", "the backbone changed"),
                     ("classes", "the classes changed"),
                     ("shapes", "the adapter's architecture changed")):
        if info.get(key) != sig[key]:
            return None, f"{why} ({info.get(key)} -> {sig[key]})" if key == "classes" else why
    arrays = fit.state.arrays
    names = [OPT_PREFIX + model.prefix + n + s for n in _named(model) for s in (".m", ".v")]
    if not all(n in arrays for n in names):
        return None, "the parent's optimiser arrays are missing"
    return info, ""


def _load_adam(opt: torch.optim.Adam, fit: FitInput, model: CellAdapter) -> int:
    """Put the parent's moments into ``opt`` (a fresh Adam over ``model``); returns the step
    count it continues from (0 = fresh)."""
    info, why = carried_moments(fit, model)
    if info is None:
        if fit.state.kind != "none" and why != "carry_optimizer is off":
            log.info("optimiser state reset: %s", why)
        return 0
    step = int(info.get("step", 0))  # type: ignore[call-overload]
    a = fit.state.arrays
    for name, p in _named(model).items():
        key = OPT_PREFIX + model.prefix + name
        opt.state[p] = {"step": torch.tensor(float(step)),
                        "exp_avg": torch.tensor(np.asarray(a[key + ".m"], np.float32)),
                        "exp_avg_sq": torch.tensor(np.asarray(a[key + ".v"], np.float32))}
    return step


def _save_adam(opt: torch.optim.Adam, fit: FitInput, model: CellAdapter) -> OptimizerState:
    arrays: dict[str, np.ndarray] = {}
    step = 0
    for name, p in _named(model).items():
        st = opt.state.get(p)
        if not st:
            return OptimizerState()
        key = OPT_PREFIX + model.prefix + name
        arrays[key + ".m"] = st["exp_avg"].detach().numpy().copy()
        arrays[key + ".v"] = st["exp_avg_sq"].detach().numpy().copy()
        step = int(st["step"])
    return OptimizerState(arrays, {OPT_INFO: {**_signature(fit, model), "step": step}})


def run_sgd(fit: FitInput, model: torch.nn.Module, step: Callable[[], None],
            carry: bool = False) -> OptimizerState:
    """Adam over ``config.steps``; ``step`` computes the gradients of one minibatch.

    With ``carry`` (a model continued from the parent's weights) Adam starts from the
    parent's moments and step count when they belong to the same backbone, classes and
    architecture, and the moments it ends with are returned for the new state. Restarting
    Adam at every retrain throws away its per-parameter step sizes: the first steps of each
    retrain are then large, uncorrected ones on the new data alone, which is where much of the
    forgetting happened (measured in docs/benchmarks.md).
    """
    steps = fit.config.steps
    opt = torch.optim.Adam(model.parameters(), lr=fit.config.learning_rate,
                           weight_decay=fit.config.weight_decay)
    can_carry = carry and isinstance(model, CellAdapter)
    if can_carry:
        _load_adam(opt, fit, model)  # type: ignore[arg-type]
    params = [p for p in model.parameters() if p.requires_grad]
    decay = fit.config.weight_average
    average = [p.detach().clone() for p in params] if decay > 0 else []
    base_lr = fit.config.learning_rate
    model.train()
    for i in range(steps):
        if i % _CHECK_EVERY_STEPS == 0:
            if fit.should_stop():
                raise LearnerCancelled("retrain cancelled")
            fit.report(i / steps)
        if fit.config.lr_schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = base_lr * 0.5 * (1.0 + math.cos(math.pi * i / steps))
        opt.zero_grad(set_to_none=True)
        step()
        opt.step()
        if average:
            with torch.no_grad():
                for a, p in zip(average, params, strict=True):
                    a.lerp_(p, 1.0 - decay)
    if average:  # the averaged weights are the result (Polyak averaging: less step noise)
        with torch.no_grad():
            for p, a in zip(params, average, strict=True):
                p.copy_(a)
    model.eval()
    fit.report(1.0)
    if can_carry and fit.config.carry_optimizer:
        return _save_adam(opt, fit, model)  # type: ignore[arg-type]
    return OptimizerState()


def cross_entropy_step(model: torch.nn.Module, batch: Callable[[], tuple[torch.Tensor,
                       torch.Tensor]]) -> Callable[[], None]:
    def step() -> None:
        z, y = batch()
        partial_label_loss(model(z), y).backward()
    return step


def replay_class_shares(fit: FitInput) -> np.ndarray | None:
    """With ``replay_class_prior = "new"``: the class shares to draw remembered cells with —
    those of the new cells (the garden's own class mix), each at least 1/(4K) so that a class
    the new cells lack is still rehearsed. The buffer itself is balanced by class and season,
    so drawn uniformly it under-represents the common classes (lawn) of the old seasons."""
    if fit.config.replay_class_prior != "new" or fit.config.class_balanced:
        return None
    k = fit.num_classes
    single = fit.y_new[fit.y_new >= 0]  # set labels (codes < 0) say no one class
    shares = np.bincount(single, minlength=k)[:k] / max(len(single), 1)
    return np.maximum(shares, 1.0 / (4 * k))


Batch = tuple[torch.Tensor, torch.Tensor]


def mixed_indices(fit: FitInput, n_replay: int,
                  ) -> Callable[[], tuple[np.ndarray | None, np.ndarray | None]]:
    """Indices of one batch: ``batch_size`` new cells plus ``n_replay`` remembered ones (as
    Avalanche's Replay: a full batch of the new experience and a batch from memory); with no
    new cells, ``batch_size`` remembered cells; with none remembered, new cells only.
    None = that part is empty."""
    b = fit.config.batch_size
    have_new, have_old = len(fit.y_new) > 0, len(fit.y_old) > 0
    n_new = b if have_new else 0
    n_old = (n_replay if have_new else b) if have_old else 0
    new_s = Sampler(fit.y_new, fit.config.class_balanced, fit.rng)
    old_s = Sampler(fit.y_old, fit.config.class_balanced, fit.rng,
                    replay_class_shares(fit) if have_new else None)

    def draw() -> tuple[np.ndarray | None, np.ndarray | None]:
        i_new = new_s.draw(n_new) if n_new else None  # new first: the RNG's order is fixed
        i_old = old_s.draw(n_old) if n_old else None
        return i_new, i_old

    return draw


def gather(fit: FitInput, i_new: np.ndarray | None, i_old: np.ndarray | None) -> Batch:
    """One batch of :func:`mixed_indices`' cells: the new ones first, then the remembered."""
    parts = [tensors(z, y, i) for z, y, i in ((fit.z_new, fit.y_new, i_new),
                                              (fit.z_old, fit.y_old, i_old)) if i is not None]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def mixed_batches(fit: FitInput, n_replay: int) -> Callable[[], Batch]:
    """Batches of :func:`mixed_indices`' cells (:func:`gather`)."""
    draw = mixed_indices(fit, n_replay)
    return lambda: gather(fit, *draw())
