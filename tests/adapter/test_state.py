"""The learner state file (robot/adapter/state.py): damaged input is a clear error, never a
raw one."""

from __future__ import annotations

import pytest

from robot.adapter.state import LearnerState
from robot.common.errors import ModelError
from tests.learner_fixtures import CLASSES, DIM, SHA


def test_a_truncated_learner_state_is_a_model_error():
    data = LearnerState.initial(CLASSES, DIM, SHA).to_bytes()
    for cut in (len(data) // 2, len(data) - 1, 10):
        with pytest.raises(ModelError, match="unreadable"):
            LearnerState.from_bytes(data[:cut], "state.npz")


def test_a_learner_state_round_trips():
    state = LearnerState.initial(CLASSES, DIM, SHA)
    back = LearnerState.from_bytes(state.to_bytes())
    assert (back.classes, back.feature_dim, back.backbone_sha256) == (CLASSES, DIM, SHA)
