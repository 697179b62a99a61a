"""A new adapter on trial goes back to its parent when it drives clearly worse: it stops where
its parent, run in the shadow on the same frames, would have driven, or it bumps more often."""

from __future__ import annotations

import json
import re

import pytest

from robot.common.errors import ConfigError
from robot.learning.config import TrialConfig
from robot.learning.trial import REFERENCE_M, Driving, TrialBook, judge, read_verdicts

CFG = TrialConfig(frames=200)


def drive(book: TrialBook, version: int, parent: int | None, frames: int, *,
          stop_every: int = 0, shadow_stop_every: int = 0, metres_per_frame: float = 0.03,
          bumps: int = 0) -> list:
    """``frames`` frames of driving: every ``stop_every``-th a stop (with its own cells) and
    every ``shadow_stop_every``-th one where its parent would have stopped; ``bumps`` spread
    out. Returns the verdicts (a trial gives at most one)."""
    verdicts = []
    bump_at = {round(i * frames / bumps) for i in range(bumps)} if bumps else set()
    for i in range(frames):
        book.on_trial(version, parent)
        stopped = bool(stop_every) and i % stop_every == 0
        shadow = bool(shadow_stop_every) and i % shadow_stop_every == 0
        v = book.observe(version, Driving(1, int(stopped), 0.0 if stopped else metres_per_frame,
                                          int(i in bump_at)), shadow)
        if v is not None:
            verdicts.append(v)
    return verdicts


def test_an_adapter_that_stops_where_its_parent_would_have_driven_goes_back(tmp_path):
    book = TrialBook(tmp_path / "trials.json", CFG)
    assert drive(book, 1, None, 400, stop_every=10) == []  # the first adapter: never on trial
    [verdict] = drive(book, 2, 1, 300, stop_every=1, shadow_stop_every=5)
    assert verdict.rolled_back and verdict.parent == 1
    assert "it stopped more: on 200 frames it stopped on 100%, its parent would have on 20%" \
        in verdict.reason


def test_stopping_where_the_parent_would_have_stopped_too_is_no_reason_to_go_back(tmp_path):
    """The same frames decide: a day that ends boxed in at a fence stops both adapters."""
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 400)
    assert drive(book, 2, 1, 200, stop_every=1, shadow_stop_every=1) == []
    assert book.on_trial(2) and not book.needs_shadow(2)  # stops judged; bumps until 30 m
    [verdict] = drive(book, 2, 1, 1100)
    assert not verdict.rolled_back and verdict.reason.startswith("kept: on 200 frames it "
                                                                  "stopped on 100% (its parent "
                                                                  "would have on 100%)")
    assert drive(book, 2, 1, 500, stop_every=1) == []  # after its trial it is never judged again


def test_an_adapter_that_bumps_where_its_parent_did_not_goes_back(tmp_path):
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 2000)  # 60 m without a bump
    [verdict] = drive(book, 2, 1, 200, bumps=2)  # 2 bumps, the second 3 m in
    assert verdict.rolled_back
    assert re.search(r"it bumped more: 2 bump\(s\) in 3.0 m on trial, its parent 0 bump\(s\) "
                     r"in 3\d\.\d m before", verdict.reason), verdict.reason


def test_a_parent_that_never_drove_its_30_m_is_measured_with_the_versions_before_it(tmp_path):
    """Version 2 was replaced after 0.3 m; its parent 1 drove 60 m without a bump. 0 bumps in
    0.3 m is no record of safety: 2's 0.3 m and 1's last metres together are."""
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 2000)
    drive(book, 2, 1, 10)
    [verdict] = drive(book, 3, 2, 200, bumps=2)
    assert verdict.rolled_back
    assert re.search(r"it bumped more: 2 bump\(s\) in 3.0 m on trial, its parent and the 1 "
                     r"version\(s\) before it 0 bump\(s\) in 3\d\.\d m before",
                     verdict.reason), verdict.reason


def test_a_trial_goes_back_to_its_parent_never_past_it(tmp_path):
    """Going back further would wake the robot with an adapter of an earlier season (each time
    it happened in the year runs of 2026-12-04: false stops 50-99 % the next day)."""
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 2000)  # summer's adapter, 60 m
    drive(book, 2, 1, 10)  # autumn's, replaced the same day
    [verdict] = drive(book, 3, 2, 200, bumps=2)
    assert verdict.parent == 2
    assert verdict.reason.startswith("rolled back to version 2: it bumped more"), verdict.reason


def test_the_versions_before_a_short_lived_parent_can_speak_for_it_both_ways(tmp_path):
    """A lineage that bumped often before: the new adapter's two bumps are no worse."""
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 1000, bumps=30)  # 100 per 100 m
    drive(book, 2, 1, 10)
    [kept] = drive(book, 3, 2, 1100, bumps=2)
    assert not kept.rolled_back and "the 1 version(s) before it 30 bump(s)" in kept.reason


def test_the_parents_bump_rate_is_its_last_metres_not_its_frames(tmp_path):
    """A parent that bumped 3 times in its last 30 m and then stood still for long: standing
    still does not dilute its rate."""
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 1000, bumps=3)
    drive(book, 1, None, 3000, stop_every=1)
    assert book.records[1].recent_driving().bumps == 3
    assert book.records[1].recent_driving().metres == pytest.approx(REFERENCE_M, abs=5.0)
    [verdict] = drive(book, 2, 1, 200, bumps=2)  # 67 per 100 m against 10
    assert verdict.rolled_back
    book2 = TrialBook(tmp_path / "other.json", CFG)
    drive(book2, 1, None, 1000, bumps=30)  # 100 per 100 m: the new one bumps less
    [kept] = drive(book2, 2, 1, 1100, bumps=2)
    assert not kept.rolled_back


def test_one_bump_is_not_evidence(tmp_path):
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 1000)
    [verdict] = drive(book, 2, 1, 1100, bumps=1)
    assert not verdict.rolled_back and "1 bump(s) in 30" in verdict.reason


def test_stopping_more_than_a_parent_that_kept_bumping_is_no_reason_to_go_back():
    reckless = Driving(frames=200, stops=10, metres=20.0, bumps=8)
    careful = Driving(frames=200, stops=150, metres=4.0, bumps=0)
    assert judge(careful, 10, reckless, TrialConfig()) == ""
    assert "stopped more" in judge(careful, 10, Driving(200, 10, 20.0, 0), TrialConfig())


def test_a_parent_that_cannot_run_in_the_shadow_leaves_no_verdict(tmp_path):
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 50)
    assert book.on_trial(2, 1)
    verdict = book.observe(2, Driving(1, 1, 0.0, 0), cannot_compare="version 1 was pruned")
    assert verdict is not None and not verdict.rolled_back
    assert verdict.reason == "kept without a verdict: version 1 was pruned"


def test_a_trial_runs_on_across_restarts(tmp_path):
    path = tmp_path / "trials.json"
    book = TrialBook(path, CFG)
    drive(book, 1, None, 300)
    assert drive(book, 2, 1, 120, stop_every=1) == []
    book.save()
    again = TrialBook(path, CFG)  # the next working day
    assert again.on_trial(2)
    [verdict] = drive(again, 2, 1, 80, stop_every=1)
    assert verdict.rolled_back
    again.save()
    assert read_verdicts(path)[2].startswith("rolled back to version 1")


def test_a_trial_saved_before_bumps_were_counted_by_distance_still_ends(tmp_path):
    """A book written while a trial was under way, by a version with no "road" tally."""
    path = tmp_path / "trials.json"
    path.write_text(json.dumps({"format": "gardenbot-trials/2", "versions": {
        "1": {"parent": None, "recent": [[400, 0, 12.0, 0]], "trial": None, "verdict": ""},
        "2": {"parent": 1, "recent": [[100, 0, 3.0, 0]], "trial": [100, 0, 3.0, 0],
              "shadow_stops": 0, "verdict": ""}}}))
    book = TrialBook(path, CFG)
    assert book.on_trial(2)
    [verdict] = drive(book, 2, 1, 1100)
    assert not verdict.rolled_back and verdict.reason.startswith("kept: on 200 frames")


def test_an_older_version_brought_back_by_the_owner_is_not_put_on_trial(tmp_path):
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 300)
    drive(book, 3, 1, 300)
    assert not book.on_trial(2, 1)  # version 2, never seen driving, older than 3
    assert drive(book, 2, 1, 300, stop_every=1) == []


def test_a_damaged_book_is_set_aside_and_the_trials_start_afresh(tmp_path):
    path = tmp_path / "trials.json"
    path.write_text('{"format": "gardenbot-trials/2", "versions": {"2": {"recent": [[1, 2]]')
    assert read_verdicts(path) == {}  # listing never moves it
    book = TrialBook(path, CFG)
    assert book.records == {}
    assert (tmp_path / "trials.json.corrupt").read_text().startswith('{"format"')
    drive(book, 1, None, 10)
    book.save()
    assert json.loads(path.read_text())["versions"]["1"]["recent"][0][0] == 10


def test_the_trial_settings_are_checked():
    with pytest.raises(ConfigError, match="stop_margin"):
        TrialConfig(stop_margin=0.0)
    with pytest.raises(ConfigError, match="frames"):
        TrialConfig(frames=-1)


def test_with_trials_off_no_adapter_is_ever_judged(tmp_path):
    book = TrialBook(tmp_path / "trials.json", TrialConfig(frames=0))
    drive(book, 1, None, 300)
    assert drive(book, 2, 1, 300, stop_every=1) == [] and not book.on_trial(2)


def test_bumps_send_it_back_at_once_not_at_the_end_of_the_trial(tmp_path):
    book = TrialBook(tmp_path / "trials.json", TrialConfig(frames=600))
    drive(book, 1, None, 2000)  # 60 m without a bump
    verdicts = drive(book, 2, 1, 100, bumps=2)  # its second bump, 50 frames in
    assert len(verdicts) == 1 and verdicts[0].rolled_back
    assert book.records[2].trial.frames == 51


def test_bumps_count_over_its_first_30_m_not_only_its_first_minute(tmp_path):
    """A bump rate needs distance: the parent's is over its last 30 m, the new adapter's over
    its first 30 m, though its stops were judged after 200 frames (6 m)."""
    book = TrialBook(tmp_path / "trials.json", CFG)
    drive(book, 1, None, 2000)
    assert drive(book, 2, 1, 400) == []  # stops judged: kept so far; 12 m driven
    [verdict] = drive(book, 2, 1, 400, bumps=2)  # two bumps between 12 and 24 m
    assert verdict.rolled_back and "it bumped more: 2 bump(s) in 1" in verdict.reason

