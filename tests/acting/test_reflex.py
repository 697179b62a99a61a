"""After a bump the robot backs off, turns away, then the policy drives again."""

from __future__ import annotations

import pytest

from robot.acting.reflex import BACKOFF, SEARCH, BumpReflex


def test_a_bump_backs_off_then_turns_then_hands_back():
    r = BumpReflex(back_s=0.8, turn_s=1.2)
    assert r.command(0.0, False, False, 300) is None
    back = r.command(1.0, True, True, 300)
    assert back is not None and back.reason == BACKOFF and back.v_mps < 0
    assert r.command(1.5, True, True, 300).reason == BACKOFF, "still the same bump"
    turn = r.command(2.0, False, False, 300)
    assert turn.reason == SEARCH and turn.v_mps == 0 and turn.omega_radps != 0
    assert r.command(3.1, False, False, 300) is None
    assert r.bumps == 1


def test_it_turns_away_from_the_side_that_was_hit():
    left = BumpReflex()
    left.command(0.0, True, False, 300)
    assert left.command(1.0, False, False, 300).omega_radps < 0  # hit on the left: turn right
    right = BumpReflex()
    right.command(0.0, False, True, 300)
    assert right.command(1.0, False, False, 300).omega_radps > 0


def test_a_new_bump_while_turning_starts_over():
    r = BumpReflex(back_s=0.8, turn_s=1.2)
    r.command(0.0, True, True, 300)
    first = r.command(1.0, False, False, 300).omega_radps
    assert r.command(1.2, True, True, 300).reason == BACKOFF
    assert r.bumps == 2
    assert r.command(2.1, False, False, 300).omega_radps == -first, "tries the other way"


def test_boxed_in_it_looks_around_then_gives_up_after_a_full_turn():
    from robot.acting.policy import DriveCommand, stop
    from robot.acting.reflex import Unstick

    u = Unstick(after_s=0.5, turn_radps=1.0)
    blocked = stop("stop_blocked")
    assert u.command(0.0, blocked) is None
    assert u.command(0.4, blocked) is None, "a moment's block is the policy's own business"
    first = u.command(0.6, blocked)
    assert first is not None and first.reason == SEARCH and first.v_mps == 0
    assert u.command(0.7, DriveCommand(0.3, 0.0, 300, "cruise")) is None, "a way out: drive"
    times = [1.0 + 0.1 * k for k in range(100)]
    turning = [t for t in times if (cmd := u.command(t, blocked)) is not None
               and cmd.omega_radps == -first.omega_radps]  # the next episode turns the other way
    assert turning[0] == pytest.approx(1.5)
    assert turning[-1] - turning[0] == pytest.approx(2 * 3.14159, abs=0.15), \
        "one full turn, then it stays put"
