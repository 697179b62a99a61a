"""The shared body physics moves the robot exactly as the recordings' drive does."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tools.garden.layout import make_garden
from tools.garden.motion import (
    BISECT_WIDTH,
    CONTACT_TOL_M,
    ROBOT_RADIUS_M,
    advance,
    contact_gap,
    dyadic_checks,
    mud_slip,
    touching,
    wheel_travel,
)
from tools.garden.season import season_look
from tools.garden.trajectory import drive

FPS = 10.0


@pytest.mark.parametrize(("gid", "season"), [("g06", "autumn"), ("g04", "winter")])
def test_replaying_the_drives_commands_gives_the_same_poses_bumps_and_slips(gid, season):
    garden, look = make_garden(gid), season_look(season)
    states = drive(garden, look, 40.0, FPS, np.random.default_rng(3))
    assert any(s.stall for s in states), "the drive bumps into something on purpose"
    pose = states[0].pose
    for prev, st in itertools.pairwise(states):
        assert pose == prev.pose
        dl, dr = wheel_travel(st.v_mps, st.omega_radps, 1.0 / FPS)
        slip = mud_slip(garden, look.wetness, *pose[:2])
        # no clearance-map shortcut here: the exact test alone must agree
        pose, frac = advance(garden, pose, dl, dr, slip)
        assert pose == st.pose
        assert (frac < 1.0) == st.stall
        assert slip == st.slip
        assert touching(garden, *pose[:2]) == st.bumper


def test_finer_checks_find_the_same_contact():
    garden = make_garden("g06")
    states = drive(garden, season_look("summer"), 40.0, FPS, np.random.default_rng(3))
    for prev, st in itertools.pairwise(states):
        if not st.stall:
            continue
        dl, dr = wheel_travel(st.v_mps, st.omega_radps, 1.0 / FPS)
        pose, _ = advance(garden, prev.pose, dl, dr, st.slip,
                          checks=dyadic_checks(abs(dl + dr) / 2, 0.002))
        assert pose == pytest.approx(st.pose, abs=1e-6)


def test_a_long_interval_into_the_fence_stops_at_contact():
    garden = make_garden("g06")
    y = garden.height_m / 2
    start = (garden.width_m - 1.0, y, 0.0)  # facing the east fence, 0.8 m of free travel
    assert contact_gap(garden, start[0], start[1]) > 0.5
    d = 3.0  # far more than the gap, in one interval
    pose, frac = advance(garden, start, d, d, 0.0, checks=dyadic_checks(d, 0.02))
    assert frac < 1.0
    assert 0.0 <= contact_gap(garden, pose[0], pose[1]) <= CONTACT_TOL_M
    assert pose[0] == pytest.approx(garden.width_m - ROBOT_RADIUS_M, abs=1e-3)
    assert frac * d == pytest.approx(pose[0] - start[0], abs=d * BISECT_WIDTH * 2)
    # pushing on: the wheels stay blocked; backing off is free
    pushed, frac2 = advance(garden, pose, 0.03, 0.03, 0.0)
    assert frac2 < 1e-4 and pushed[0] == pytest.approx(pose[0], abs=1e-6)
    back, frac3 = advance(garden, pose, -0.03, -0.03, 0.0)
    assert frac3 == 1.0 and back[0] == pytest.approx(pose[0] - 0.03)


def test_mud_makes_the_wheels_turn_more_than_the_robot_moves():
    garden = make_garden("g06")
    look = season_look("autumn")
    m = garden.mud[0]
    slip = mud_slip(garden, look.wetness, m.x_m, m.y_m)
    assert 0.0 < slip < 1.0
    start = (m.x_m, m.y_m, 0.3)
    pose, frac = advance(garden, start, 0.05, 0.05, slip)
    assert frac == 1.0
    assert math.hypot(pose[0] - start[0], pose[1] - start[1]) == pytest.approx(0.05 * (1 - slip))
    assert mud_slip(garden, look.wetness, -1.0, -1.0) == 0.0


def test_dyadic_checks_end_at_one_and_are_close_enough():
    assert dyadic_checks(0.01, 0.02) == (1.0,)
    c = dyadic_checks(0.3, 0.02)
    assert c[-1] == 1.0 and 0.3 * c[0] <= 0.02 and len(c) == 16
