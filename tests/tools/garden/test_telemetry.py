"""Telemetry agrees with the drive that made the images."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tools.garden.layout import make_garden
from tools.garden.motion import CONTACT_TOL_M, ROBOT_RADIUS_M, TICKS_PER_M, WHEEL_BASE_M
from tools.garden.season import season_look
from tools.garden.telemetry import M_DRY, M_SAT, plan_watering, telemetry_records
from tools.garden.trajectory import drive

SECONDS = 60.0


@pytest.fixture(scope="module", params=[("g01", "spring"), ("g06", "autumn")])
def run(request):
    gid, season = request.param
    garden = make_garden(gid)
    look = season_look(season)
    states = drive(garden, look, SECONDS, 10.0, np.random.default_rng(5))
    records = telemetry_records(garden, look, states, SECONDS, np.random.default_rng(6))
    return garden, states, records


def dead_reckon(pose, d_left, d_right, slip):
    """Independent differential-drive step: constant wheel speeds give an exact arc."""
    x, y, th = pose
    ds = (1 - slip) * (d_left + d_right) / 2
    dth = (1 - slip) * (d_right - d_left) / WHEEL_BASE_M
    if abs(dth) < 1e-12:
        return x + ds * math.cos(th), y + ds * math.sin(th), th
    r = ds / dth
    return (x + r * (math.sin(th + dth) - math.sin(th)),
            y - r * (math.cos(th + dth) - math.cos(th)), th + dth)


def test_one_record_per_frame_with_the_documented_fields(run):
    _, states, records = run
    assert len(records) == len(states) == int(SECONDS * 10)
    required = {"t", "x_m", "y_m", "theta_rad", "v_mps", "omega_radps", "ticks_left",
                "ticks_right", "bumper", "stall", "slip", "motor_current_left_a",
                "motor_current_right_a", "battery_v", "pump_on", "pump_zone"}
    for r in records:
        assert required <= r.keys()
    times = [r["t"] for r in records]
    assert times == sorted(times) and times[1] == pytest.approx(0.1)
    assert sum("soil_moisture" in r for r in records) == pytest.approx(SECONDS, abs=1)


def test_wheel_ticks_integrate_to_the_pose(run):
    _, _, records = run
    worst_xy, worst_th = 0.0, 0.0
    for a, b in itertools.pairwise(records):
        dl = (b["ticks_left"] - a["ticks_left"]) / TICKS_PER_M
        dr = (b["ticks_right"] - a["ticks_right"]) / TICKS_PER_M
        x, y, th = dead_reckon((a["x_m"], a["y_m"], a["theta_rad"]), dl, dr, b["slip"])
        worst_xy = max(worst_xy, math.hypot(x - b["x_m"], y - b["y_m"]))
        worst_th = max(worst_th, abs(th - b["theta_rad"]))
    assert worst_xy < 1.5e-3  # ticks are 0.5 mm
    assert worst_th < 5e-3


def test_wheels_stop_while_stalled_against_an_obstacle(run):
    _, _, records = run
    stalled = [(a, b) for a, b in itertools.pairwise(records) if a["stall"] and b["stall"]]
    assert stalled, "the drive pushes against an obstacle at least once"
    for a, b in stalled:
        assert b["v_mps"] > 0, "commanded forward"
        assert abs(b["ticks_left"] - a["ticks_left"]) <= 1
        assert math.hypot(b["x_m"] - a["x_m"], b["y_m"] - a["y_m"]) < 1e-3


def test_slip_only_on_mud_and_it_shortens_the_way(run):
    garden, _, records = run
    for a, b in itertools.pairwise(records):
        on_mud = any(math.hypot(a["x_m"] - m.x_m, a["y_m"] - m.y_m) < m.radius_m
                     for m in garden.mud)
        assert 0.0 <= b["slip"] < 1.0
        if not on_mud:
            assert b["slip"] == 0.0


def test_bumper_fires_exactly_when_the_footprint_touches_an_obstacle(run):
    garden, _, records = run
    for r in records:
        gap = float(garden.obstacle_distance(np.array(r["x_m"]), np.array(r["y_m"])))
        gap -= ROBOT_RADIUS_M
        assert gap > -1e-4, "the footprint never goes into an obstacle"
        assert r["bumper"] == (gap <= CONTACT_TOL_M)
    presses = sum(1 for a, b in itertools.pairwise(records) if b["bumper"] and not a["bumper"])
    assert presses >= 1


def test_bumps_show_as_stall_and_high_motor_current(run):
    _, _, records = run
    stalled = [r for r in records if r["stall"]]
    cruising = [r for r in records if not r["stall"] and r["v_mps"] > 0]
    assert stalled and cruising
    assert all(r["bumper"] for r in stalled), "only an obstacle stops the wheels"
    assert min(r["motor_current_left_a"] for r in stalled) > max(
        r["motor_current_left_a"] for r in cruising)


def test_moisture_dries_between_waterings_and_rises_while_watered(run):
    garden, _, records = run
    readings = [r for r in records if "soil_moisture" in r]
    zones = {b.id for b in garden.beds}
    probes = {p.id: p for b in garden.beds for p in b.probes}
    watered_zones = {r["pump_zone"] for r in records if r["pump_on"]}
    assert len(watered_zones) == 1 and watered_zones <= zones
    (zone,) = watered_zones
    rose = False
    for a, b in itertools.pairwise(readings):
        pumped = any(r["pump_on"] for r in records if a["t"] < r["t"] <= b["t"])
        for ma, mb in zip(a["soil_moisture"], b["soil_moisture"], strict=True):
            assert ma["probe"] == mb["probe"]
            p = probes[ma["probe"]]
            assert (mb["x_m"], mb["y_m"], mb["zone"]) == (p.x_m, p.y_m, p.zone)
            assert M_DRY <= mb["value"] <= M_SAT
            if pumped and mb["zone"] == zone:
                assert mb["value"] > ma["value"]
                rose = True
            else:
                assert mb["value"] < ma["value"], "drying between waterings"
    assert rose


def test_pump_runs_only_in_its_window_and_the_battery_drains(run):
    _garden, _, records = run
    on = [r["t"] for r in records if r["pump_on"]]
    assert on and max(on) - min(on) <= 10.0 + 1e-6
    volts = [r["battery_v"] for r in records]
    assert min(volts) > 9.0 and max(volts) < 12.7
    assert np.mean(volts[-50:]) < np.mean(volts[:50])


def test_no_watering_is_planned_for_a_too_short_recording():
    assert plan_watering(make_garden("g00"), 2.0, np.random.default_rng(0)) is None
