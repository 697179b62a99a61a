"""The training recipe shared by the SGD strategies: Adam's state carried from one retrain to the
next (and reset when it no longer fits), joint continuing from its parent, EWC's λ."""

from __future__ import annotations

import logging

import numpy as np
import torch

from robot.adapter.store import AdapterStore
from robot.common.samples import LabelledCells
from robot.learning.learner import LearnerState, TrainConfig, grow_classes, train
from robot.learning.learner.strategies import ewc_penalty
from tests.learner_fixtures import CLASSES, DIM, OTHER_SHA, SHA, cells

A, B = cells(0, 60, seed=1), cells(1, 60, seed=2)
STEPS = 40


def cfg(strategy: str = "replay", **kw) -> TrainConfig:
    return TrainConfig(strategy=strategy, steps=STEPS, **kw)


def first(strategy: str = "replay") -> LearnerState:
    return train(strategy, LearnerState.initial(CLASSES, DIM, SHA), A, None, cfg(strategy),
                 seed=0)[1]


def test_adams_moments_and_step_count_go_on_into_the_next_retrain():
    parent = first()
    assert parent.info["optimizer"]["step"] == STEPS
    assert {k for k in parent.arrays if k.startswith("opt.")} == {
        f"opt.mlp.{p}.{m}" for p in ("down.w", "down.b", "up.w", "up.b", "cls.w", "cls.b")
        for m in "mv"}
    _, child = train("replay", parent, B, A, cfg(), seed=1)
    assert child.info["optimizer"]["step"] == 2 * STEPS
    _, fresh = train("replay", parent, B, A, cfg(carry_optimizer=False), seed=1)
    assert "optimizer" not in fresh.info and not any(k.startswith("opt.") for k in fresh.arrays)
    assert not np.array_equal(child.arrays["mlp.cls.w"], fresh.arrays["mlp.cls.w"])


def test_the_carried_state_survives_the_store_and_a_torn_write(tmp_path):
    parent = first()
    adapter, _ = train("replay", LearnerState.initial(CLASSES, DIM, SHA), A, None, cfg(), seed=0)
    store = AdapterStore(tmp_path, backbone_sha256=SHA, feature_dim=DIM)
    assert store.publish(adapter, parent, A, margin=0.01).published
    # a retrain killed while writing version 2: its folder is still temporary, half written
    torn = tmp_path / ".tmp-v000002-4242"
    torn.mkdir()
    (torn / "state.npz").write_bytes(parent.to_bytes()[:1000])
    store.clean_temporary()
    loaded = AdapterStore(tmp_path, backbone_sha256=SHA, feature_dim=DIM).load_state()
    assert not torn.exists()
    for key, value in parent.arrays.items():
        assert np.array_equal(loaded.arrays[key], value), key
    assert loaded.info["optimizer"] == parent.info["optimizer"]
    # the next retrain from the stored state is the one from the state in memory, bit for bit
    _, from_disk = train("replay", loaded, B, A, cfg(), seed=1)
    _, from_memory = train("replay", parent, B, A, cfg(), seed=1)
    assert np.array_equal(from_disk.arrays["mlp.cls.w"], from_memory.arrays["mlp.cls.w"])
    assert np.array_equal(from_disk.arrays["opt.mlp.cls.w.v"],
                          from_memory.arrays["opt.mlp.cls.w.v"])


def test_adam_starts_afresh_when_a_class_is_added(caplog):
    parent = grow_classes(first(), (*CLASSES, "pond"))
    with caplog.at_level(logging.INFO, "robot.learning.learner.training"):
        _, child = train("replay", parent, B, A, cfg(), seed=1)
    assert "optimiser state reset: the classes changed" in caplog.text
    assert child.info["optimizer"]["step"] == STEPS
    assert child.info["optimizer"]["classes"][-1] == "pond"


def test_adam_starts_afresh_for_another_backbone_or_architecture(caplog):
    parent = first()
    other_backbone = parent.evolve(info={**parent.info, "optimizer": {
        **parent.info["optimizer"], "backbone_sha256": OTHER_SHA}})
    other_shapes = parent.evolve(info={**parent.info, "optimizer": {
        **parent.info["optimizer"], "shapes": {"mlp.down.w": [16, DIM]}}})
    with caplog.at_level(logging.INFO, "robot.learning.learner.training"):
        for state in (other_backbone, other_shapes):
            _, child = train("replay", state, B, A, cfg(), seed=1)
            assert child.info["optimizer"]["step"] == STEPS
    assert "the backbone changed" in caplog.text
    assert "the adapter's architecture changed" in caplog.text


def test_a_strategy_of_another_family_drops_the_optimiser_state():
    _, slda = train("slda", first(), B, None, cfg("slda"), seed=1)
    assert "optimizer" not in slda.info and not any(k.startswith("opt.") for k in slda.arrays)


def test_joint_continues_from_its_parent_and_keeps_every_cell():
    parent = first("joint")
    _, child = train("joint", parent, B, None, TrainConfig(strategy="joint", steps=1), seed=1)
    # one step of lr 3e-3 from the parent: still the parent's weights, not a fresh start
    moved = np.abs(child.arrays["mlp.cls.w"] - parent.arrays["mlp.cls.w"]).max()
    assert moved < 0.01 < np.abs(parent.arrays["mlp.cls.w"]).max()
    assert child.info["optimizer"]["step"] == STEPS + 1
    assert len(child.arrays["joint.y"]) == len(A) + len(B)


def test_ewc_lambda_is_the_literatures_lambda():
    # λ/2 · Σ F (θ - θ*)²: 10 weights 0.5 away with F = 2 and λ = 3 -> 3/2 · 10 · 2 · 0.25
    param = torch.full((2, 5), 1.5, requires_grad=True)
    terms = [(param, torch.full((2, 5), 2.0), torch.ones(2, 5))]
    assert torch.isclose(ewc_penalty(terms, 3.0), torch.tensor(7.5))
    assert float(ewc_penalty(terms, 0.0).detach()) == 0.0


def test_remembered_cells_are_drawn_with_the_new_cells_class_mix():
    from robot.learning.learner.training import FitInput, Sampler, replay_class_shares

    rng = np.random.default_rng(0)
    y_new = np.array([0] * 80 + [1] * 15 + [2] * 5)  # a lawn-heavy garden, no class 3 or 4
    y_old = np.repeat(np.arange(5), 200)  # the buffer: balanced by class
    z = np.zeros((len(y_old), DIM), np.float32)
    fit = FitInput(LearnerState.initial(CLASSES, DIM, SHA), z[:100], y_new, y_new.astype(str),
                   z, y_old, y_old.astype(str), TrainConfig(), rng, lambda f: None,
                   lambda: False)
    shares = replay_class_shares(fit)
    assert np.allclose(shares, [0.8, 0.15, 0.05, 0.05, 0.05])  # floor 1/(4K): 3, 4 still drawn
    drawn = np.bincount(y_old[Sampler(y_old, False, rng, shares).draw(20000)], minlength=5)
    assert np.allclose(drawn / drawn.sum(), shares / shares.sum(), atol=0.01)
    buffer_mix = replace_prior(fit, "buffer")
    assert replay_class_shares(buffer_mix) is None  # drawn uniformly from the buffer


def replace_prior(fit, prior: str):
    from dataclasses import replace

    return replace(fit, config=TrainConfig(replay_class_prior=prior))


def logits_of(state: LearnerState, x: LabelledCells) -> np.ndarray:
    from robot.learning.learner.model import CellAdapter, mlp_arrays

    z = (x.features_f32() - state.arrays["norm.mean"]) / state.arrays["norm.std"]
    with torch.no_grad():
        return CellAdapter(mlp_arrays(state.arrays))(torch.from_numpy(z)).numpy()


def test_replay_distillation_keeps_the_parents_answers_on_remembered_cells():
    parent = first()
    _, plain = train("replay", parent, B, A, cfg(replay_distill=0.0), seed=1)
    _, kept = train("replay", parent, B, A, cfg(), seed=1)  # the default: α = 0.1
    before = logits_of(parent, A)
    drift = {name: float(((logits_of(s, A) - before) ** 2).mean())
             for name, s in (("plain", plain), ("distilled", kept))}
    assert drift["distilled"] < 0.5 * drift["plain"]

    def acc(s: LearnerState, x: LabelledCells) -> float:
        return float((logits_of(s, x).argmax(1) == x.labels).mean())

    assert acc(kept, A) >= acc(plain, A)
    # and still learns the new domain, whose classes here look like other classes of A: the
    # parent's answers on A pull against it (chance is 0.2)
    assert acc(kept, B) > 0.6


def test_with_no_parent_network_to_ask_replay_is_plain_replay_bit_for_bit():
    fresh = LearnerState.initial(CLASSES, DIM, SHA)  # the first retrain: nothing to distil
    _, a = train("replay", fresh, B, A, cfg(replay_distill=0.0), seed=3)
    _, b = train("replay", fresh, B, A, cfg(replay_distill=1.0), seed=3)
    assert np.array_equal(a.arrays["mlp.cls.w"], b.arrays["mlp.cls.w"])


def test_strategies_that_rehearse_get_the_wider_adapter_and_a_child_keeps_its_parents_width():
    assert TrainConfig(strategy="replay").width() == TrainConfig(strategy="joint").width() == 64
    assert TrainConfig(strategy="lwf").width() == TrainConfig(strategy="finetune").width() == 32
    assert TrainConfig(strategy="lwf", bottleneck_dim=48).width() == 48
    fresh = LearnerState.initial(CLASSES, DIM, SHA)
    assert train("finetune", fresh, A, None, cfg("finetune"), seed=0)[1].arrays[
        "mlp.down.w"].shape == (32, DIM)
    narrow = train("replay", fresh, A, None, cfg(bottleneck_dim=32), seed=0)[1]
    _, child = train("replay", narrow, B, A, cfg(), seed=1)  # the default would be 64 wide
    assert child.arrays["mlp.down.w"].shape == (32, DIM) and child.info["optimizer"]["step"] > 0
