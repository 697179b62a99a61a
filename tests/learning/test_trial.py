"""A new adapter on trial goes back to its parent when it drives clearly worse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robot.common.errors import ConfigError
from robot.learning.config import TrialConfig
from robot.learning.trial import Driving, TrialBook, judge

CFG = TrialConfig(frames=200)


def drive(book: TrialBook, version: int, parent: int | None, frames: int, *, stop_every: int = 0,
          metres_per_frame: float = 0.03, bumps: int = 0):
    """``frames`` frames of driving; every ``stop_every``-th one a stop; ``bumps`` spread out.
    Returns the verdicts (a trial gives at most one)."""
    verdicts = []
    bump_at = {round(i * frames / bumps) for i in range(bumps)} if bumps else set()
    for i in range(frames):
        stopped = bool(stop_every) and i % stop_every == 0
        v = book.observe(version, parent, Driving(1, int(stopped),
                                                  0.0 if stopped else metres_per_frame,
                                                  int(i in bump_at)))
        if v is not None:
            verdicts.append(v)
    return verdicts


def test_an_adapter_that_stops_far_more_than_its_parent_goes_back(tmp_path: Path) -> None:
    book = TrialBook(tmp_path / "trials.json", CFG)
    assert drive(book, 1, None, 400, stop_every=10) == []  # the first adapter: never on trial
    [verdict] = drive(book, 2, 1, 300, stop_every=1)  # stops on every frame
    assert verdict.rolled_back and verdict.parent == 1
    assert "stopped more" in verdict.reason and "100%" in verdict.reason


def test_an_adapter_that_drives_like_its_parent_stays(tmp_path: Path) -> None:
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 400, stop_every=5)
    [verdict] = drive(book, 2, 1, 200, stop_every=4)  # 25 % against 20 %: within the margin
    assert not verdict.rolled_back and verdict.reason.startswith("kept")
    assert drive(book, 2, 1, 500, stop_every=1) == []  # after its trial it is never judged again


def test_an_adapter_that_bumps_where_its_parent_did_not_goes_back(tmp_path: Path) -> None:
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 200)
    [verdict] = drive(book, 2, 1, 200, bumps=2)  # 2 bumps in 6 m
    assert verdict.rolled_back and "bumped more" in verdict.reason


def test_one_bump_is_not_evidence(tmp_path: Path) -> None:
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 200)
    [verdict] = drive(book, 2, 1, 200, bumps=1)
    assert not verdict.rolled_back


def test_stopping_more_than_a_parent_that_kept_bumping_is_no_reason_to_go_back() -> None:
    reckless = Driving(frames=200, stops=10, metres=20.0, bumps=8)
    careful = Driving(frames=200, stops=150, metres=4.0, bumps=0)
    assert judge(careful, reckless, TrialConfig()) == ""
    assert "stopped more" in judge(careful, Driving(200, 10, 20.0, 0), TrialConfig())


def test_without_the_parents_recent_driving_there_is_no_verdict(tmp_path: Path) -> None:
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 50)  # too little to compare with
    [verdict] = drive(book, 2, 1, 200, stop_every=1)
    assert not verdict.rolled_back and "without a verdict" in verdict.reason


def test_the_parents_latest_driving_is_the_reference_not_its_whole_life(tmp_path: Path) -> None:
    """Its old days looked different (another season): only its last trial-length counts."""
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 1000)  # drove freely for long ...
    drive(book, 1, None, 200, stop_every=1)  # ... and stopped everywhere lately
    [verdict] = drive(book, 2, 1, 200, stop_every=1)
    assert not verdict.rolled_back


def test_a_trial_runs_on_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "trials.json"
    book = TrialBook(path, CFG)
    drive(book, 1, None, 300)
    assert drive(book, 2, 1, 120, stop_every=1) == []
    book.save()
    again = TrialBook(path, CFG)  # the next working day
    assert again.on_trial(2)
    [verdict] = drive(again, 2, 1, 80, stop_every=1)
    assert verdict.rolled_back


def test_an_older_version_brought_back_by_the_owner_is_not_put_on_trial(tmp_path: Path) -> None:
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 300)
    drive(book, 3, 1, 300)
    drive(book, 2, 1, 300, stop_every=1)  # version 2, never seen driving, older than 3
    assert not book.on_trial(2) and book.records[2].verdict == ""


def test_a_damaged_book_is_set_aside_and_the_trials_start_afresh(tmp_path: Path) -> None:
    path = tmp_path / "trials.json"
    path.write_text('{"format": "gardenbot-trials/1", "versions": {"2": {"recent": [[1, 2]]')
    book = TrialBook(path, CFG)
    assert book.records == {}
    assert (tmp_path / "trials.json.corrupt").read_text().startswith('{"format"')
    drive(book, 1, None, 10)
    book.save()
    assert json.loads(path.read_text())["versions"]["1"]["recent"][0][0] == 10


def test_the_trial_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="stop_margin"):
        TrialConfig(stop_margin=0.0)
    with pytest.raises(ConfigError, match="frames"):
        TrialConfig(frames=-1)


def test_with_trials_off_no_adapter_is_ever_judged(tmp_path: Path) -> None:
    book = TrialBook(tmp_path / "trials.json", TrialConfig(frames=0))
    drive(book, 1, None, 300)
    assert drive(book, 2, 1, 300, stop_every=1) == [] and not book.on_trial(2)
