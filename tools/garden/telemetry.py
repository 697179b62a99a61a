"""Telemetry the robot would log alongside its camera: odometry, bumper, slip, currents,
soil moisture per bed probe, battery and the watering pump.

Soil moisture (volumetric water content, 0..1) follows one rule per probe,
``dm/dt = -k_season * (m - m_dry) + inflow``: it dries exponentially towards ``m_dry`` (fast
in summer, slow in winter) and rises while the pump waters the probe's zone. The drying time
constants are minutes, not the hours of a real bed, so that a recording of a minute shows a
curve; the watering rate is realistic. There is no rain in the generator.

The battery is a 3-cell lithium pack: open-circuit voltage from its state of charge, minus the
sag of the current drawn (motors, pump, electronics) through its internal resistance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tools.garden.layout import Garden
from tools.garden.motion import WHEEL_BASE_M
from tools.garden.season import SeasonLook
from tools.garden.trajectory import V_CRUISE_MPS, RobotState

M_DRY = 0.08  # moisture a bed dries towards
M_SAT = 0.48  # saturated soil
DRYING_TAU_S = {"spring": 2400.0, "summer": 900.0, "autumn": 3600.0, "winter": 9000.0}
START_MOISTURE = {"spring": (0.28, 0.38), "summer": (0.12, 0.24), "autumn": (0.26, 0.36),
                  "winter": (0.32, 0.42)}
WATERING_RATE = 0.012  # per second of pumping at the probe, slowing as the soil fills
BATTERY_CAPACITY_AH = 5.0
BATTERY_R_OHM = 0.08
IDLE_CURRENT_A = 0.35  # computer, camera, sensors
PUMP_CURRENT_A = 1.4
MOISTURE_PERIOD_S = 1.0  # probes report once a second


@dataclass(frozen=True)
class Watering:
    zone: str
    start_s: float
    stop_s: float


def plan_watering(garden: Garden, seconds: float, rng: np.random.Generator) -> Watering | None:
    """One watering of a random zone during the recording (None for a garden without beds)."""
    if not garden.beds or seconds < 4.0:
        return None
    zone = garden.beds[int(rng.integers(0, len(garden.beds)))].id
    start = float(rng.uniform(0.15, 0.5)) * seconds
    length = min(float(rng.uniform(4.0, 10.0)), 0.4 * seconds)
    return Watering(zone, round(start, 3), round(start + length, 3))


STALL_CURRENT_A = 2.4


def motor_current_a(v_wheel_mps: float, slip: float, stall: bool) -> float:
    """A wheel motor's current: friction and speed, more in mud, the most when stalled."""
    if stall and v_wheel_mps != 0:
        return STALL_CURRENT_A
    return 0.2 + 0.9 * abs(v_wheel_mps) / V_CRUISE_MPS + 0.5 * slip


def open_circuit_v(soc: float) -> float:
    """3S lithium-ion pack voltage at a state of charge in [0, 1]."""
    soc = min(max(soc, 0.0), 1.0)
    return 3 * (3.3 + 0.75 * soc + 0.15 * soc**0.5 - 0.05 * math.exp(-30 * soc))


def telemetry_records(
    garden: Garden, look: SeasonLook, states: list[RobotState], seconds: float,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """One record per robot state (= per frame), soil moisture once per second."""
    watering = plan_watering(garden, seconds, rng)
    lo, hi = START_MOISTURE[look.season]
    probes = [p for bed in garden.beds for p in bed.probes]
    moisture = {p.id: float(rng.uniform(lo, hi)) for p in probes}
    tau = DRYING_TAU_S[look.season]
    soc = float(rng.uniform(0.55, 0.95))
    records = []
    next_moisture_t = 0.0
    prev_t = states[0].t if states else 0.0
    for st in states:
        dt = st.t - prev_t
        prev_t = st.t
        pump_on = watering is not None and watering.start_s <= st.t < watering.stop_s
        pumped_s = 0.0
        if watering is not None and dt > 0:
            pumped_s = max(0.0, min(st.t, watering.stop_s) - max(st.t - dt, watering.start_s))
        for p in probes:
            m = moisture[p.id]
            m = M_DRY + (m - M_DRY) * math.exp(-dt / tau)
            if pumped_s > 0 and p.zone == watering.zone:
                m = M_SAT - (M_SAT - m) * math.exp(-pumped_s * WATERING_RATE / (M_SAT - M_DRY))
            moisture[p.id] = m
        v_l = st.v_mps - st.omega_radps * WHEEL_BASE_M / 2
        v_r = st.v_mps + st.omega_radps * WHEEL_BASE_M / 2
        i_l = motor_current_a(v_l, st.slip, st.stall)
        i_r = motor_current_a(v_r, st.slip, st.stall)
        current = IDLE_CURRENT_A + i_l + i_r + (PUMP_CURRENT_A if pump_on else 0.0)
        soc -= current * dt / (BATTERY_CAPACITY_AH * 3600.0)
        rec: dict[str, Any] = {
            "t": st.t,
            "x_m": round(st.x_m, 5), "y_m": round(st.y_m, 5),
            "theta_rad": round(st.theta_rad, 6),
            "v_mps": round(st.v_mps, 5), "omega_radps": round(st.omega_radps, 5),
            "ticks_left": st.ticks_left, "ticks_right": st.ticks_right,
            "bumper": st.bumper,
            "stall": st.stall,
            "slip": round(st.slip, 4),
            "motor_current_left_a": round(i_l, 3), "motor_current_right_a": round(i_r, 3),
            "battery_v": round(open_circuit_v(soc) - current * BATTERY_R_OHM, 3),
            "pump_on": pump_on,
            "pump_zone": watering.zone if pump_on else None,
        }
        if st.t + 1e-9 >= next_moisture_t:
            next_moisture_t += MOISTURE_PERIOD_S
            rec["soil_moisture"] = [
                {"probe": p.id, "zone": p.zone, "x_m": p.x_m, "y_m": p.y_m,
                 "value": round(moisture[p.id], 5)}
                for p in probes
            ]
        records.append(rec)
    return records
