from __future__ import annotations

import numpy as np
import pytest

from robot.adapter.store import AdapterStore
from robot.commands.gardenbot import main
from robot.learning.replay_buffer import ReplayBuffer
from tests.learner_fixtures import CLASSES, DIM, SHA, cells, filled_buffer


def test_retrain_in_the_foreground_then_list_show_and_rollback(tmp_path, capsys):
    filled_buffer(tmp_path / "replay_buffer.gbrb", domains=(0,))
    assert main(["retrain", "--data-dir", str(tmp_path), "--foreground", "--steps", "50"]) == 0
    assert "published as version 1" in capsys.readouterr().out
    buf = ReplayBuffer.load(tmp_path / "replay_buffer.gbrb")
    buf.add(cells(1, 60, seed=3))
    buf.save(tmp_path / "replay_buffer.gbrb")
    assert main(["retrain", "--data-dir", str(tmp_path), "--foreground", "--steps", "50"]) == 0
    assert main(["adapter", "--data-dir", str(tmp_path), "list"]) == 0
    out = capsys.readouterr().out
    assert "* " in out and "replay" in out and "lawn,path" in out
    assert main(["adapter", "--data-dir", str(tmp_path), "rollback", "1"]) == 0
    assert "current adapter: version 1 (was 2)" in capsys.readouterr().out
    assert AdapterStore(tmp_path / "adapters").current_version() == 1
    assert main(["adapter", "--data-dir", str(tmp_path), "show", "2"]) == 0
    assert '"parent": 1' in capsys.readouterr().out


def test_retrain_with_an_empty_buffer_is_a_clear_error(tmp_path, capsys):
    ReplayBuffer(DIM, SHA, CLASSES).save(tmp_path / "replay_buffer.gbrb")
    assert main(["retrain", "--data-dir", str(tmp_path), "--foreground"]) == 1
    assert "the replay buffer is empty" in capsys.readouterr().err


def test_retrain_without_a_buffer_is_a_clear_error(tmp_path, capsys):
    assert main(["retrain", "--data-dir", str(tmp_path), "--foreground"]) == 1
    assert "no replay buffer there" in capsys.readouterr().err


def test_rollback_to_a_missing_version_is_a_clear_error(tmp_path, capsys):
    assert main(["adapter", "--data-dir", str(tmp_path), "rollback", "4"]) == 1
    assert "version 4 does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_retrain_in_a_learner_process(tmp_path, capsys):
    filled_buffer(tmp_path / "replay_buffer.gbrb", domains=(0,))
    assert main(["retrain", "--data-dir", str(tmp_path), "--steps", "50"]) == 0
    assert "published as version 1" in capsys.readouterr().out
    assert np.isfinite(AdapterStore(tmp_path / "adapters").load()[1]["validation"]["score"])
