"""The continual-learning strategies, by name. Each is one function FitInput -> arrays.

docs/learner.md explains each and why it is here; tests/learning/learner/test_strategies.py
shows each doing what its name says on a stream where the classes' look changes between domains.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from robot.adapter.state import NEW_CLASS_BIAS
from robot.common.errors import LearnerError
from robot.learning.learner.losses import partial_label_loss
from robot.learning.learner.model import CellAdapter, init_mlp_arrays, mlp_arrays
from robot.learning.learner.prototypes import spherical_kmeans, unit_rows
from robot.learning.learner.training import (
    FitInput,
    OptimizerState,
    Sampler,
    cross_entropy_step,
    gather,
    mixed_batches,
    mixed_indices,
    replay_class_shares,
    run_sgd,
    start_mlp,
    tensors,
)

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class FitResult:
    kind: str  # the learner state kind the arrays make up
    arrays: Arrays  # replaces the strategy's own arrays in the state
    info: dict[str, object]


@dataclass(frozen=True)
class Strategy:
    name: str
    fit: Callable[[FitInput], FitResult]
    uses_replay: bool  # reads the replay buffer
    needs_new: bool  # cannot run without new samples (api.train refuses it then)
    summary: str


# --- finetune / replay -------------------------------------------------------------------

def _mlp_result(model: CellAdapter, opt: OptimizerState, extra: Arrays | None = None
                ) -> FitResult:
    return FitResult("mlp", {**model.named_arrays(), **opt.arrays, **(extra or {})}, opt.info)


def fit_finetune(fit: FitInput) -> FitResult:
    model = start_mlp(fit)
    opt = run_sgd(fit, model, cross_entropy_step(model, mixed_batches(fit, 0)), carry=True)
    return _mlp_result(model, opt)


def parent_logits(fit: FitInput) -> np.ndarray | None:
    """The parent adapter's logits (old classes only) on every remembered cell, or None when
    there is no parent network to ask (first retrain, or a parent of another kind)."""
    if fit.state.kind != "mlp" or len(fit.y_old) == 0:
        return None
    teacher = start_mlp(fit)
    old_k = int(fit.state.info.get("trained_classes", fit.num_classes))
    with torch.no_grad():
        return np.concatenate([
            teacher(torch.from_numpy(fit.z_old[i: i + 8192]))[:, :old_k].numpy()
            for i in range(0, len(fit.y_old), 8192)])


def fit_replay(fit: FitInput) -> FitResult:
    """Rehearsal: each step's batch is new cells plus remembered ones. With ``replay_distill``
    > 0 (dark experience replay, Buzzega et al. 2020, with the parent as the stored answer)
    the remembered cells also keep the parent's logits: α · mean squared logit difference."""
    model = start_mlp(fit)
    n_replay = fit.config.replay_batch_size
    alpha = fit.config.replay_distill
    target = parent_logits(fit) if alpha > 0 else None
    if target is None:
        step = cross_entropy_step(model, mixed_batches(fit, n_replay))
    else:
        draw = mixed_indices(fit, n_replay)
        old_k = target.shape[1]
        target_t = torch.from_numpy(target)

        def step() -> None:
            i_new, i_old = draw()
            z, y = gather(fit, i_new, i_old)
            out = model(z)
            loss = partial_label_loss(out, y)
            if i_old is not None:
                old_out = out[len(out) - len(i_old):, :old_k]
                loss = loss + alpha * F.mse_loss(old_out, target_t[torch.from_numpy(i_old)])
            loss.backward()

    opt = run_sgd(fit, model, step, carry=True)
    return _mlp_result(model, opt)


# --- ewc ---------------------------------------------------------------------------------

def _fisher_diagonal(model: CellAdapter, z: np.ndarray, y: np.ndarray,
                     rng: np.random.Generator, max_cells: int = 1024) -> Arrays:
    """Empirical Fisher information: mean squared per-cell gradient of the log-likelihood."""
    idx = rng.choice(len(y), min(len(y), max_cells), replace=False)
    zt, yt = tensors(z, y, idx)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p: dict[str, torch.Tensor], zi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, p, (zi[None],)), yi[None])

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, zt, yt)
    return {
        "ewc.fisher." + model.prefix + k.removeprefix("params.").replace("_", "."):
            (g**2).mean(0).numpy()
        for k, g in grads.items()
    }


def ewc_penalty(terms: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                lam: float) -> torch.Tensor:
    """λ/2 · Σ_i F_i (θ_i − θ*_i)² over every (parameter, Fisher, anchor) triple."""
    total = torch.zeros(())
    for param, fisher, anchor in terms:
        total = total + (fisher * (param - anchor) ** 2).sum()
    return 0.5 * lam * total


def fit_ewc(fit: FitInput) -> FitResult:
    """Online EWC: stay close to the parent's weights where the Fisher information says the old
    data cared, learn freely elsewhere. No replay.

    The penalty is the literature's (Kirkpatrick et al. 2017, online form of Schwarz et al.
    2018): λ/2 · Σ_i F_i (θ_i − θ*_i)², summed over every weight, F the empirical Fisher
    diagonal (mean over cells of the squared per-cell log-likelihood gradient) accumulated as
    F ← γ F + F_new. So ``ewc_lambda`` is the λ of those papers (docs/learner.md compares it
    with Avalanche's and with this learner's earlier scaling)."""
    model = start_mlp(fit)
    cfg = fit.config
    penalties: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    if fit.state.kind == "mlp":
        for name, param in model.named_parameters():
            fisher = fit.state.arrays.get("ewc.fisher.mlp." + name.removeprefix(
                "params.").replace("_", "."))
            if fisher is not None and fisher.shape == tuple(param.shape):
                penalties.append((param, torch.tensor(np.asarray(fisher, np.float32)),
                                  param.detach().clone()))
    batch = mixed_batches(fit, 0)

    def step() -> None:
        z, y = batch()
        (F.cross_entropy(model(z), y) + ewc_penalty(penalties, cfg.ewc_lambda)).backward()

    opt = run_sgd(fit, model, step, carry=True)
    fisher_new = _fisher_diagonal(model, fit.z_new, fit.y_new, fit.rng)
    for key, value in fisher_new.items():
        old = fit.state.arrays.get(key)
        if old is not None and old.shape == value.shape:
            fisher_new[key] = cfg.ewc_decay * old + value
    return _mlp_result(model, opt, fisher_new)


# --- lwf ---------------------------------------------------------------------------------

def fit_lwf(fit: FitInput) -> FitResult:
    """Learning without Forgetting: learn the new labels while matching the parent's soft
    outputs on the same new cells (knowledge distillation). No replay."""
    model = start_mlp(fit)
    teacher = start_mlp(fit) if fit.state.kind == "mlp" else None
    cfg = fit.config
    batch = mixed_batches(fit, 0)
    old_k = int(fit.state.info.get("trained_classes", fit.num_classes))

    def step() -> None:
        z, y = batch()
        out = model(z)
        loss = F.cross_entropy(out, y)
        if teacher is not None:
            with torch.no_grad():
                target = F.softmax(teacher(z)[:, :old_k] / cfg.lwf_temperature, dim=1)
            log_p = F.log_softmax(out[:, :old_k] / cfg.lwf_temperature, dim=1)
            loss = loss + cfg.lwf_alpha * cfg.lwf_temperature**2 * F.kl_div(
                log_p, target, reduction="batchmean")
        loss.backward()

    opt = run_sgd(fit, model, step, carry=True)
    return _mlp_result(model, opt)


# --- agem --------------------------------------------------------------------------------

def fit_agem(fit: FitInput) -> FitResult:
    """Averaged GEM: a step on the new cells may not increase the loss on replayed cells; where
    its gradient points against the replay gradient, the conflicting part is projected out."""
    model = start_mlp(fit)
    params = list(model.parameters())
    b = fit.config.batch_size
    new_s = Sampler(fit.y_new, fit.config.class_balanced, fit.rng)
    old_s = Sampler(fit.y_old, fit.config.class_balanced, fit.rng,
                    replay_class_shares(fit) if len(fit.y_new) else None)
    have_old = len(fit.y_old) > 0

    def flat_grad(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(model(z), y)
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])

    def step() -> None:
        g = flat_grad(*tensors(fit.z_new, fit.y_new, new_s.draw(b)))
        if have_old:
            g_ref = flat_grad(*tensors(fit.z_old, fit.y_old, old_s.draw(b)))
            dot = torch.dot(g, g_ref)
            if dot < 0:
                g = g - dot / (torch.dot(g_ref, g_ref) + 1e-12) * g_ref
        offset = 0
        for p in params:
            p.grad = g[offset: offset + p.numel()].reshape(p.shape).clone()
            offset += p.numel()

    opt = run_sgd(fit, model, step, carry=True)
    return _mlp_result(model, opt)


# --- bank --------------------------------------------------------------------------------

def _router_centres(fit: FitInput, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    parts = [spherical_kmeans(unit_rows(z[y == k]), fit.config.prototypes_per_class, fit.rng)
             for k in np.unique(y)]
    return np.concatenate(parts).astype(np.float32)


def _router_score(centres: np.ndarray, z: np.ndarray) -> float:
    return float((unit_rows(z) @ centres.T).max(axis=1).mean())


def fit_bank(fit: FitInput) -> FitResult:
    """One adapter per season (domain). Seasons in the new data get their member trained (from
    the closest existing member, on that season's new and replayed cells); the others are not
    touched, so they cannot forget. The exported graph routes each frame to the member whose
    season prototypes its cells resemble most."""
    state = fit.state
    domains: list[str] = list(state.info.get("bank_domains", [])) if state.kind == "bank" else []
    arrays: Arrays = {k: v for k, v in state.arrays.items() if k.startswith("bank")}
    z_all = np.concatenate([fit.z_new, fit.z_old])
    y_all = np.concatenate([fit.y_new, fit.y_old])
    s_all = np.concatenate([fit.season_new.astype(str), fit.season_old.astype(str)])
    todo = list(dict.fromkeys(fit.season_new.astype(str).tolist()))
    todo += [s for s in dict.fromkeys(fit.season_old.astype(str).tolist())
             if s not in domains and s not in todo]
    if not todo:
        raise LearnerError("strategy 'bank' has no cells to train on")
    for n_done, domain in enumerate(todo):
        mask = s_all == domain
        z_d, y_d = z_all[mask], y_all[mask]
        if domain in domains:
            i = domains.index(domain)
            init = mlp_arrays(arrays, f"bank{i}.")
        else:
            i = len(domains)
            domains.append(domain)
            if i > 0:  # start from the member whose season looks most like this one
                best = max(range(i), key=lambda j: _router_score(arrays[f"bank{j}.router"], z_d))
                init = mlp_arrays(arrays, f"bank{best}.")
            elif state.kind == "mlp":
                init = mlp_arrays(state.arrays, "mlp.")
            else:
                init = init_mlp_arrays(fit.feature_dim, fit.num_classes,
                                       fit.config.width(), fit.rng, prefix="x.")
            init = {f"bank{i}." + k.split(".", 1)[1]: v for k, v in init.items()}
        model = CellAdapter(init, prefix=f"bank{i}.")
        member_fit = FitInput(
            state, z_d, y_d, np.full(len(y_d), domain), z_d[:0], y_d[:0], y_d[:0].astype(str),
            fit.config, fit.rng,
            lambda f, n=n_done: fit.report((n + f) / len(todo)), fit.should_stop)
        run_sgd(member_fit, model, cross_entropy_step(model, mixed_batches(member_fit, 0)))
        arrays.update(model.named_arrays())
        arrays[f"bank{i}.router"] = _router_centres(fit, z_d, y_d)
    return FitResult("bank", arrays, {"bank_domains": domains})


# --- slda / ncm ----------------------------------------------------------------------------

def _class_stats(fit: FitInput, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Running class means, counts and within-class scatter, merged with the new cells exactly
    (Chan et al.'s pairwise update), so the order the data came in does not matter."""
    k, c = fit.num_classes, fit.feature_dim
    a = fit.state.arrays
    mean = a.get(prefix + "mean", np.zeros((k, c))).astype(np.float64)
    count = a.get(prefix + "count", np.zeros(k)).astype(np.float64)
    scatter = a.get(prefix + "scatter", np.zeros((c, c))).astype(np.float64)
    z = fit.z_new.astype(np.float64)
    for cls in np.unique(fit.y_new):
        zc = z[fit.y_new == cls]
        n_b, mean_b = len(zc), zc.mean(axis=0)
        centred = zc - mean_b
        n_a = count[cls]
        delta = mean_b - mean[cls]
        scatter += centred.T @ centred + np.outer(delta, delta) * (n_a * n_b / (n_a + n_b))
        mean[cls] += delta * (n_b / (n_a + n_b))
        count[cls] = n_a + n_b
    return mean, count, scatter


def fit_slda(fit: FitInput) -> FitResult:
    """Streaming linear discriminant analysis: class means and one shared covariance, updated in
    closed form from the stream (no SGD, no replay); the classifier follows from them."""
    mean, count, scatter = _class_stats(fit, "slda.")
    cov = scatter / max(count.sum() - 1.0, 1.0)
    eps = fit.config.slda_shrinkage
    precision = np.linalg.inv((1.0 - eps) * cov + eps * np.eye(fit.feature_dim))
    w = mean @ precision
    b = -0.5 * np.einsum("kc,kc->k", w, mean)
    b[count == 0] = NEW_CLASS_BIAS
    w[count == 0] = 0.0
    arrays = {"slda.mean": mean.astype(np.float32), "slda.count": count,
              "slda.scatter": scatter.astype(np.float32),
              "linear.w": w.astype(np.float32), "linear.b": b.astype(np.float32)}
    return FitResult("linear", arrays, {})


def fit_ncm(fit: FitInput) -> FitResult:
    """Nearest class mean: running class means (closed form, no SGD, no replay); a cell goes to
    the class whose mean is nearest. As logits: -|z - mean|^2 / C up to a per-cell constant."""
    mean, count, _ = _class_stats(fit, "ncm.")
    c = fit.feature_dim
    w = 2.0 * mean / c
    b = -(mean**2).sum(axis=1) / c
    b[count == 0] = NEW_CLASS_BIAS
    w[count == 0] = 0.0
    arrays = {"ncm.mean": mean.astype(np.float32), "ncm.count": count,
              "linear.w": w.astype(np.float32), "linear.b": b.astype(np.float32)}
    return FitResult("linear", arrays, {})


# --- joint -------------------------------------------------------------------------------

def fit_joint(fit: FitInput) -> FitResult:
    """The upper bound: keep every new cell ever given (in the state, unbounded — not for the
    robot) and train on all of them, continuing from the parent's adapter and optimiser (as
    Avalanche's Cumulative does): with a fixed number of steps per retrain, starting from
    scratch each time spreads the same steps over ever more data and ends less trained."""
    a = fit.state.arrays
    z_all = np.concatenate([a.get("joint.z", fit.z_new[:0]), fit.z_new]).astype(np.float16)
    y_all = np.concatenate([a.get("joint.y", fit.y_new[:0]), fit.y_new])
    if len(y_all) == 0:
        raise LearnerError("strategy 'joint' has seen no data")
    model = start_mlp(fit)
    all_fit = FitInput(fit.state, z_all.astype(np.float32), y_all, y_all.astype(str), z_all[:0],
                       y_all[:0], y_all[:0].astype(str), fit.config, fit.rng, fit.report,
                       fit.should_stop)
    opt = run_sgd(all_fit, model, cross_entropy_step(model, mixed_batches(all_fit, 0)),
                  carry=True)
    return _mlp_result(model, opt, {"joint.z": z_all, "joint.y": y_all})


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("finetune", fit_finetune, False, True,
             "new data only; the forgetting baseline"),
    Strategy("replay", fit_replay, True, False,
             "new data mixed with replayed buffer cells (default)"),
    Strategy("ewc", fit_ewc, False, True,
             "online elastic weight consolidation: a Fisher-weighted pull to the old weights"),
    Strategy("lwf", fit_lwf, False, True,
             "learning without forgetting: distil the parent's outputs on the new data"),
    Strategy("agem", fit_agem, True, True,
             "A-GEM: project new-data gradients that conflict with the replay gradient"),
    Strategy("bank", fit_bank, True, False,
             "one adapter per season plus a frame-level router"),
    Strategy("slda", fit_slda, False, True,
             "streaming LDA: closed-form class means and shared covariance"),
    Strategy("ncm", fit_ncm, False, True,
             "nearest class mean: closed-form class means"),
    Strategy("joint", fit_joint, False, False,
             "all data ever seen, trained on from the parent: the upper bound"),
)}

# Strategies that learn from set labels (the partial-label loss in cross_entropy_step); the
# others train on single labels only and never see set-label cells.
SET_LABEL_STRATEGIES = frozenset({"finetune", "replay", "bank", "joint"})

# Arrays that belong to one strategy family; dropped when the state changes family.
STRATEGY_PREFIXES = ("mlp.", "bank", "linear.", "slda.", "ncm.", "ewc.", "joint.", "opt.")
