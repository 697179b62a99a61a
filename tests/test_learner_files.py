"""The learner's file readers and writer: damaged input is a clear error, never a raw one."""

from __future__ import annotations

import os

import pytest

from robot.adapter.state import LearnerState
from robot.common.atomic import atomic_write_bytes
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


def test_an_atomic_write_works_where_chmod_is_refused(tmp_path, monkeypatch):
    def no_chmod(fd, mode):  # as on vfat
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", no_chmod)
    atomic_write_bytes(tmp_path / "f", b"new")
    atomic_write_bytes(tmp_path / "f", b"newer")
    assert (tmp_path / "f").read_bytes() == b"newer"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
