"""The continual-learning metrics against matrices worked out by hand (docs/bench.md)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tools.bench.cl_metrics import (
    average_accuracy,
    average_incremental_accuracy,
    backward_transfer,
    first_minus_last_forgetting,
    forgetting,
    intransigence,
    json_safe,
    summarize,
    unseen_accuracy,
)

# Rows: after training step k; columns: test set of step j.
A = [[0.8, 0.2, 0.1],
     [0.9, 0.7, 0.3],
     [0.6, 0.5, 0.9]]
JOINT = [[0.8, 0.0, 0.0],
         [0.0, 0.9, 0.0],
         [0.0, 0.0, 0.85]]


def test_average_accuracy_is_the_mean_over_the_seasons_seen_so_far():
    # (0.8), (0.9 + 0.7) / 2, (0.6 + 0.5 + 0.9) / 3
    np.testing.assert_allclose(average_accuracy(A), [0.8, 0.8, 2.0 / 3])


def test_average_incremental_accuracy_averages_the_aa_curve():
    np.testing.assert_allclose(average_incremental_accuracy(A),
                               [0.8, 0.8, (0.8 + 0.8 + 2.0 / 3) / 3])


def test_forgetting_is_best_earlier_minus_now():
    # k=1: season 0 was 0.8 after step 0, 0.9 now -> -0.1 (it improved)
    # k=2: season 0 best earlier 0.9 (after step 1), now 0.6 -> 0.3;
    #      season 1 best earlier 0.7, now 0.5 -> 0.2; mean 0.25
    fm = forgetting(A)
    assert math.isnan(fm[0])
    np.testing.assert_allclose(fm[1:], [-0.1, 0.25])


def test_avalanche_forgetting_is_first_minus_last_and_differs_from_ours():
    # k=2: season 0 right after its step 0.8, now 0.6 -> 0.2 (ours says 0.3: its best was 0.9)
    af = first_minus_last_forgetting(A)
    np.testing.assert_allclose(af[1:], [-0.1, 0.2])
    assert forgetting(A)[2] > af[2]


def test_avalanche_forgetting_matches_avalanches_own_worked_example():
    # Avalanche's functional forgetting on [[1,0,0],[.5,.8,1],[.2,1,.5]] is the per-experience
    # matrix [[0,0,0],[.5,0,0],[.8,-.2,0]]; averaged over earlier experiences: .5 and .3.
    vals = [[1.0, 0.0, 0.0], [0.5, 0.8, 1.0], [0.2, 1.0, 0.5]]
    np.testing.assert_allclose(first_minus_last_forgetting(vals)[1:], [0.5, 0.3])


def test_backward_transfer_is_minus_the_first_minus_last_forgetting():
    bwt = backward_transfer(A)
    np.testing.assert_allclose(bwt[1:], [0.1, -0.2])
    np.testing.assert_allclose(bwt[1:], -first_minus_last_forgetting(A)[1:])


def test_forgetting_takes_the_best_of_every_earlier_step_even_before_training_the_season():
    # As issue 5 defines it: max over i < k, so a season the model handled well before it was
    # trained on (here summer, 0.75 after spring) counts that as its best.
    a = [[0.8, 0.75, 0.1],
         [0.8, 0.70, 0.3],
         [0.8, 0.50, 0.9]]
    np.testing.assert_allclose(forgetting(a)[2], (0.0 + 0.25) / 2)


def test_intransigence_is_joints_diagonal_minus_ours():
    np.testing.assert_allclose(intransigence(A, JOINT), [0.0, 0.2, -0.05])


def test_unseen_accuracy_is_the_forward_view():
    ua = unseen_accuracy(A)
    np.testing.assert_allclose(ua[:2], [0.15, 0.3])
    assert math.isnan(ua[2])


def test_summary_holds_every_metric_per_step_and_final():
    s = summarize(A, JOINT)
    assert s["final"]["AA"] == pytest.approx(2.0 / 3)
    assert s["final"]["FM"] == pytest.approx(0.25)
    assert s["final"]["AF_first_last"] == pytest.approx(0.2)
    assert s["final"]["BWT"] == pytest.approx(-0.2)
    assert s["final"]["IM"] == pytest.approx(-0.05)
    assert s["final"]["IM_mean"] == pytest.approx(0.05)
    assert s["final"]["UA_mean"] == pytest.approx(0.225)
    assert set(s["per_step"]) == {"AA", "AIA", "FM", "AF_first_last", "BWT", "UA", "IM"}
    assert all(len(v) == 3 for v in s["per_step"].values())
    assert "IM" not in summarize(A)["final"]


def test_a_single_step_has_accuracy_but_no_forgetting():
    s = summarize([[0.7]])
    assert s["final"]["AA"] == pytest.approx(0.7)
    assert math.isnan(s["final"]["FM"]) and math.isnan(s["final"]["BWT"])


@pytest.mark.parametrize("bad", [[[0.5, 0.5]], [], [[0.5, float("nan")], [0.5, 0.5]],
                                 [[[0.5]]]])
def test_a_malformed_matrix_is_refused(bad):
    with pytest.raises(ValueError, match="matrix"):
        summarize(bad)


def test_a_joint_matrix_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="joint"):
        intransigence(A, [[0.5]])


def test_results_become_strict_json():
    out = json_safe({"x": np.float32(0.5), "n": np.int64(3), "nan": float("nan"),
                     "arr": np.array([1.0, np.inf])})
    assert json.loads(json.dumps(out, allow_nan=False)) == {
        "x": 0.5, "n": 3, "nan": None, "arr": [1.0, None]}
