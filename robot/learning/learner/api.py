"""The learner's entry point: one retrain of the adapter with a named strategy.

    adapter, state = train("replay", state, new_cells, buffer, TrainConfig(), seed=0)
    scores = evaluate(adapter, features, labels)

The benchmark calls it with the same data and seeds for every strategy; the robot's learner
process calls it from robot/learning/retrain.py. Deterministic under a seed (same inputs, same
threads).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch

from robot.adapter.exported import ExportedAdapter
from robot.adapter.state import LearnerState, grow_classes
from robot.common.errors import LearnerError, ReplayBufferError
from robot.common.samples import LabelledCells, validate_cells
from robot.learning.config import TrainConfig
from robot.learning.learner.export import export_adapter
from robot.learning.learner.prototypes import fit_prototypes
from robot.learning.learner.strategies import (
    SET_LABEL_STRATEGIES,
    STRATEGIES,
    STRATEGY_PREFIXES,
)
from robot.learning.learner.training import OPT_INFO, FitInput
from robot.learning.replay_buffer import ReplayBuffer

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _replay_cells(state: LearnerState, buffer: LabelledCells | ReplayBuffer | None,
                  ) -> tuple[LearnerState, LabelledCells]:
    if buffer is None:
        return state, LabelledCells.empty(state.feature_dim)
    if isinstance(buffer, ReplayBuffer):
        if (buffer.backbone_sha256 != state.backbone_sha256
                or buffer.feature_dim != state.feature_dim):
            raise ReplayBufferError(
                f"replay buffer is for backbone {buffer.backbone_sha256[:12]}… "
                f"({buffer.feature_dim} channels); the learner state is for "
                f"{state.backbone_sha256[:12]}… ({state.feature_dim} channels)")
        if len(buffer.classes) > len(state.classes):
            state = grow_classes(state, buffer.classes)  # a class was added to the buffer
        return state, buffer.split()[0]
    return state, buffer


def _standardiser(state: LearnerState, new: LabelledCells, replay: LabelledCells
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The parent's normaliser, or one fitted to this data on the first retrain (then fixed:
    moving it would move every input under the trained weights)."""
    if "norm.mean" in state.arrays:
        return state.arrays["norm.mean"], state.arrays["norm.std"]
    x = np.concatenate([new.features_f32(), replay.features_f32()])
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean.astype(np.float32), np.maximum(std, 1e-3 * max(float(std.max()), 1e-6)
                                               ).astype(np.float32)


def _standardise(cells: LabelledCells, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std in one float32 array, a block of rows at a time (a season of the
    benchmark is ~140,000 cells: converting it whole and then standardising it took three
    passes over 100 MB, as much as a hundred training steps; blocks stay in the cache)."""
    x = cells.features
    inv = (1.0 / std).astype(np.float32)
    z = np.empty(x.shape, np.float32)
    for i in range(0, len(x), _BLOCK_ROWS):
        block = z[i: i + _BLOCK_ROWS]
        np.subtract(x[i: i + _BLOCK_ROWS], mean, out=block, dtype=np.float32)
        block *= inv
    return z


_BLOCK_ROWS = 4096


_PROTOTYPE_CELLS = 40_000  # novelty prototypes are fitted on at most this many cells


def _prototype_sample(fit: FitInput, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The cells the novelty prototypes are fitted on: all that were trained on, or a random
    sample of them (k-means samples 2,000 per class anyway)."""
    n_new, n_old = len(fit.y_new), len(fit.y_old)
    if n_new + n_old <= _PROTOTYPE_CELLS:
        return np.concatenate([fit.z_new, fit.z_old]), np.concatenate([fit.y_new, fit.y_old])
    idx = np.sort(rng.choice(n_new + n_old, _PROTOTYPE_CELLS, replace=False))
    i_new, i_old = idx[idx < n_new], idx[idx >= n_new] - n_new
    return (np.concatenate([fit.z_new[i_new], fit.z_old[i_old]]),
            np.concatenate([fit.y_new[i_new], fit.y_old[i_old]]))


def train(
    strategy: str,
    state: LearnerState,
    new_samples: LabelledCells,
    buffer: LabelledCells | ReplayBuffer | None = None,
    config: TrainConfig | None = None,
    seed: int = 0,
    *,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[ExportedAdapter, LearnerState]:
    """One retrain: returns the exported adapter and the state the next retrain starts from.

    ``state`` is the parent (``LearnerState.initial(...)`` before the first retrain).
    ``new_samples`` are the labelled cells that arrived since the parent was trained; ``buffer``
    the replay memory (a ReplayBuffer — its held-out validation cells are never trained on —
    or plain LabelledCells, or None). Strategies that do not replay ignore it.
    ``progress(fraction, stage)`` is called now and then; ``should_stop()`` returning True
    cancels with LearnerCancelled. Raises LearnerError for an unknown strategy or no data,
    SampleError for bad cells, ReplayBufferError for a buffer of another backbone.
    """
    spec = STRATEGIES.get(strategy)
    if spec is None:
        raise LearnerError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    config = config or TrainConfig(strategy=strategy)
    report = progress or (lambda fraction, stage: None)
    stop = should_stop or (lambda: False)
    t0 = time.perf_counter()
    state, replay = _replay_cells(state, buffer)
    validate_cells(new_samples, len(state.classes), state.feature_dim, "new samples")
    validate_cells(replay, len(state.classes), state.feature_dim, "replay buffer")
    if strategy not in SET_LABEL_STRATEGIES:  # no partial-label loss: single labels only
        new_samples, replay = (c.take(~c.is_set) for c in (new_samples, replay))
    if spec.needs_new and len(new_samples) == 0:
        raise LearnerError(f"strategy {strategy!r} trains on new samples and there are none")
    if not spec.uses_replay:
        replay = replay.take(slice(0, 0))
    if len(new_samples) + len(replay) == 0 and not (strategy == "joint" and state.trained):
        raise LearnerError(
            "nothing to train on: no new samples and an empty replay buffer")
    mean, std = _standardiser(state, new_samples, replay)
    rng = np.random.default_rng(seed)
    fit = FitInput(
        state=state, z_new=_standardise(new_samples, mean, std),
        y_new=new_samples.label_codes(),
        season_new=new_samples.season, z_old=_standardise(replay, mean, std),
        y_old=replay.label_codes(), season_old=replay.season, config=config, rng=rng,
        report=lambda f: report(0.9 * f, "training"), should_stop=stop,
    )
    report(0.0, "training")
    with _torch_threads(config.torch_threads):
        result = spec.fit(fit)
    report(0.9, "exporting")
    z_seen, y_seen = _prototype_sample(fit, rng)
    kept = {k: v for k, v in state.arrays.items()
            if not k.startswith((*STRATEGY_PREFIXES, "proto.", "norm."))}
    protos = fit_prototypes(z_seen, y_seen, len(state.classes), config.prototypes_per_class,
                            config.novelty_quantile, rng, dict(state.arrays)) if len(y_seen) \
        else {k: v for k, v in state.arrays.items() if k.startswith("proto.")}
    uids = new_samples.uid[new_samples.uid >= 0]
    info = {
        # strategy-owned facts come from this retrain's result only (never a stale parent's)
        **{k: v for k, v in state.info.items() if k not in ("bank_domains", OPT_INFO)},
        **result.info,
        "strategy": strategy,
        "seed": seed,
        "trained_classes": len(state.classes),
        "new_cells": len(new_samples),
        "replay_cells": len(replay),
        "retrains": int(state.info.get("retrains", 0)) + 1,
        "trained_upto_uid": max(int(state.info.get("trained_upto_uid", -1)),
                                int(uids.max()) if len(uids) else -1),
        "train_s": round(time.perf_counter() - t0, 3),
    }
    new_state = state.evolve(
        kind=result.kind, info=info,
        arrays={**kept, "norm.mean": mean, "norm.std": std, **protos, **result.arrays})
    adapter = export_adapter(new_state)
    report(1.0, "done")
    log.info("trained %s on %d new + %d replayed cells in %.2f s", strategy, len(new_samples),
             len(replay), time.perf_counter() - t0)
    return adapter, new_state
