"""Set labels in the learner: the partial-label loss, and a retrain that corrects an error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from robot.adapter.store import set_label_truth
from robot.common.samples import LabelledCells, make_cells
from robot.learning.learner import LearnerState, TrainConfig, train
from robot.learning.learner.losses import allowed_mask, partial_label_loss
from tests.learner_fixtures import CLASSES, DIM, SHA

LAWN, PATH, SOIL, PLANT, OBSTACLE = range(5)
TRAVERSABLE = (1 << LAWN) | (1 << PATH)


def test_the_loss_is_cross_entropy_for_single_labels():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 5, generator=gen)
    y = torch.randint(0, 5, (64,), generator=gen)
    assert torch.equal(partial_label_loss(logits, y), F.cross_entropy(logits, y))
    # also through the general path (one set cell in the batch forces it)
    y_mixed = torch.cat([y, torch.tensor([-TRAVERSABLE])])
    logits_mixed = torch.cat([logits, torch.zeros(1, 5)])
    per_cell = F.cross_entropy(logits, y, reduction="sum")
    expected = (per_cell - torch.log(torch.tensor(2 / 5))) / 65
    assert torch.allclose(partial_label_loss(logits_mixed, y_mixed), expected, atol=1e-6)


def test_the_loss_of_a_set_is_minus_log_of_its_mass_and_its_gradient_moves_mass_into_it():
    logits = torch.tensor([[0.0, 0.5, -1.0, 3.0, 0.0]], requires_grad=True)  # says "plant"
    y = torch.tensor([-TRAVERSABLE])
    loss = partial_label_loss(logits, y)
    p = F.softmax(logits, dim=1)[0]
    assert loss.item() == pytest.approx(-torch.log(p[LAWN] + p[PATH]).item(), abs=1e-6)
    loss.backward()
    g = logits.grad[0]
    assert g[LAWN] < 0 and g[PATH] < 0  # descent raises both members
    assert g[PLANT] > 0 and g[SOIL] > 0 and g[OBSTACLE] > 0  # and lowers every other class
    assert allowed_mask(y, 5).tolist() == [[True, True, False, False, False]]


def clusters(rng: np.random.Generator, centres: np.ndarray, n: int, noise: float = 0.3):
    k = rng.integers(len(centres), size=n)
    return (centres[k] + noise * rng.standard_normal((n, DIM))).astype(np.float32), k


def test_driving_over_cells_the_adapter_calls_plant_teaches_it_they_are_lawn_or_path():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((5, DIM)) * 2
    x, y = clusters(rng, centres, 1000)
    summer = make_cells(x, y, season="summer")
    _, state = train("replay", LearnerState.initial(CLASSES, DIM, SHA), summer, None, seed=0)
    # autumn: lawn under leaves looks like plant to the summer adapter
    leafy = (centres[PLANT] + 0.3 * centres[LAWN] + 0.3 * rng.standard_normal((300, DIM))
             ).astype(np.float32)
    adapter, _ = train("replay", state, summer.take(slice(0, 0)), summer, seed=0)
    assert np.mean(adapter.predict_cells(leafy).classes == PLANT) > 0.9
    drove = make_cells(leafy, np.zeros(300), source="experience", season="autumn",
                       allowed=np.full(300, TRAVERSABLE))
    adapter, _ = train("replay", state, drove, summer, seed=0)
    pred = adapter.predict_cells(leafy).classes
    assert np.mean((pred == LAWN) | (pred == PATH)) > 0.9
    summer_pred = adapter.predict_cells(x).classes
    assert np.mean(summer_pred == y) > 0.9  # and summer is not forgotten


@pytest.mark.parametrize("strategy", ["finetune", "joint", "ewc", "slda"])
def test_every_strategy_takes_a_batch_with_set_labels(strategy):
    """finetune and joint learn from the sets; the others leave set-label cells out."""
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((5, DIM)) * 2
    x, y = clusters(rng, centres, 400)
    mixed = LabelledCells.concat([
        make_cells(x, y), make_cells(x[:50], np.zeros(50), source="experience",
                                     allowed=np.full(50, TRAVERSABLE))])
    _, state = train(strategy, LearnerState.initial(CLASSES, DIM, SHA), mixed, None,
                     TrainConfig(strategy=strategy, steps=50), seed=0)
    assert state.info["new_cells"] == (450 if strategy in ("finetune", "joint") else 400)


def test_a_set_label_cell_scores_right_when_the_prediction_is_in_its_set():
    cells = make_cells(np.zeros((4, 2)), np.array([PLANT, 0, 0, 0]),
                       allowed=np.array([0, TRAVERSABLE, TRAVERSABLE, 0b11100]))
    truth = set_label_truth(cells, np.array([PLANT, PATH, PLANT, SOIL]))
    assert truth.tolist() == [PLANT, PATH, LAWN, SOIL]
