from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from robot.adapter.store import AdapterStore
from robot.commands.gardenbot import main
from robot.learning.config import TrialConfig
from robot.learning.replay_buffer import ReplayBuffer
from robot.learning.trial import Driving, TrialBook
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


def test_the_list_shows_each_versions_trial(tmp_path, capsys):
    filled_buffer(tmp_path / "replay_buffer.gbrb", domains=(0,))
    for _ in range(2):
        assert main(["retrain", "--data-dir", str(tmp_path), "--foreground", "--steps", "20",
                     "--force"]) == 0
    book = TrialBook(tmp_path / "adapter_trials.json", TrialConfig(frames=10))
    for version, parent, stops in ((1, None, 0), (2, 1, 1)):
        for _ in range(10):  # version 2 stops on every frame, where version 1 would drive
            book.on_trial(version, parent)
            book.observe(version, Driving(1, stops, 0.0 if stops else 0.03, 0), False)
    book.save()
    capsys.readouterr()
    assert main(["adapter", "--data-dir", str(tmp_path), "list"]) == 0
    rows = {m.group(1): line for line in capsys.readouterr().out.splitlines()
            if (m := re.match(r"^[* ]\s+(\d+)\s", line))}
    assert "rolled back" in rows["2"] and " - " in rows["1"]
    assert main(["adapter", "--data-dir", str(tmp_path), "show", "2"]) == 0
    assert "it stopped more" in capsys.readouterr().out


def test_retrain_with_an_empty_buffer_is_a_clear_error(tmp_path, capsys):
    ReplayBuffer(DIM, SHA, CLASSES).save(tmp_path / "replay_buffer.gbrb")
    assert main(["retrain", "--data-dir", str(tmp_path), "--foreground"]) == 1
    assert "the replay buffer is empty" in capsys.readouterr().err


@pytest.mark.parametrize("mode", [["--foreground"], []])
def test_retrain_without_a_buffer_says_how_to_get_one_and_leaves_nothing_behind(mode, tmp_path,
                                                                                capsys):
    assert main(["retrain", "--data-dir", str(tmp_path), *mode]) == 1
    err = capsys.readouterr().err
    assert "no replay buffer there" in err
    assert "gardenbot run" in err and "gardenbot simulate --data-dir" in err and "--buffer" in err
    assert "learner process" not in err, "refused before a learner is started"
    assert list(tmp_path.iterdir()) == [], "no adapters/ or learner_status.json left behind"


def test_retrain_with_an_empty_buffer_starts_no_learner(tmp_path, capsys):
    ReplayBuffer(DIM, SHA, CLASSES).save(tmp_path / "replay_buffer.gbrb")
    assert main(["retrain", "--data-dir", str(tmp_path)]) == 1
    assert "the replay buffer is empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["replay_buffer.gbrb"]


def test_progress_rewrites_a_line_on_a_terminal_and_writes_one_line_per_change_otherwise():
    import io

    from robot.commands.retrain import Progress

    seen = ["starting 0.0%", "starting 0.0%", "training 10.0%", "training 10.0%", "done"]
    log, term = io.StringIO(), io.StringIO()
    to_log, on_tty = Progress(log, tty=False), Progress(term, tty=True)
    for text in seen:
        to_log.show(text)
        on_tty.show(text)
    to_log.end()
    on_tty.end()
    assert log.getvalue() == "starting 0.0%\ntraining 10.0%\ndone\n"
    pad = " " * (len("training 10.0%") - len("done"))  # a shorter line clears the longer one
    assert term.getvalue() == "\rstarting 0.0%\rtraining 10.0%\rdone" + pad + "\n"


def test_rollback_to_a_missing_version_is_a_clear_error(tmp_path, capsys):
    assert main(["adapter", "--data-dir", str(tmp_path), "rollback", "4"]) == 1
    assert "version 4 does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_retrain_in_a_learner_process(tmp_path, capsys):
    filled_buffer(tmp_path / "replay_buffer.gbrb", domains=(0,))
    assert main(["retrain", "--data-dir", str(tmp_path), "--steps", "50"]) == 0
    captured = capsys.readouterr()
    assert "published as version 1" in captured.out
    progress = [line for line in captured.err.splitlines() if "%" in line]
    assert progress and "\r" not in captured.err, "not a terminal: plain lines"
    assert all(a != b for a, b in itertools.pairwise(progress)), "one line per change"
    assert np.isfinite(AdapterStore(tmp_path / "adapters").load()[1]["validation"]["score"])


def test_adapter_list_compares_each_version_with_its_parent_on_the_same_cells(tmp_path, capsys):
    filled_buffer(tmp_path / "replay_buffer.gbrb", domains=(0,))
    assert main(["retrain", "--data-dir", str(tmp_path), "--foreground", "--steps", "50"]) == 0
    buf = ReplayBuffer.load(tmp_path / "replay_buffer.gbrb")
    buf.add(cells(1, 60, seed=3))  # a new season: v2 is validated on cells v1 never saw
    buf.save(tmp_path / "replay_buffer.gbrb")
    assert main(["retrain", "--data-dir", str(tmp_path), "--foreground", "--steps", "50"]) == 0
    capsys.readouterr()
    assert main(["adapter", "--data-dir", str(tmp_path), "list"]) == 0
    out = capsys.readouterr().out
    store = AdapterStore(tmp_path / "adapters")
    v1, v2 = (store.load(v)[1]["validation"] for v in (1, 2))
    seasons = ", ".join(v2["scores"]["per_season"])
    rows = {m.group(1): " ".join(line.split()) for line in out.splitlines()
            if (m := re.match(r"[* ] +(\d+)  ", line))}
    assert (f"{v2['score']:.3f} 1 {v2['parent_score']:.3f} {v2['cells']} ({seasons})"
            in rows["2"]), "v2 beside v1's score on v2's own held-out cells"
    assert f"{v1['score']:.3f} - - {v1['cells']} (" in rows["1"]
    assert "compare a score with its parent's, not with another row" in " ".join(out.split())
