"""The safety rules as pure functions, used by the host (refuse before sending) and the emulator.

The C firmware implements the same arithmetic in ``firmware/src/gb_core.c``; a differential test
replays random command scripts through both and compares every byte they send.
"""

from __future__ import annotations

from firmware_bridge.constants import (
    DRIVE_TTL_MAX_MS,
    MAX_WHEEL_SPEED_MMPS,
    N_ZONES,
    PUMP_MAX_ON_MS,
    PUMP_REFILL_DIVISOR,
    TRACK_WIDTH_MM,
    EstopAction,
    NakCode,
)
from firmware_bridge.messages import Drive, Heartbeat, Water

PUMP_BUDGET_FULL = PUMP_MAX_ON_MS * PUMP_REFILL_DIVISOR  # budget kept in 1/DIVISOR ms units


def trunc_div(a: int, b: int) -> int:
    """Integer division rounding toward zero, as C does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def wheel_speeds_mmps(v_mmps: int, omega_mradps: int) -> tuple[int, int]:
    """(left, right) wheel speeds of a differential drive, exactly as the firmware computes them."""
    turn = trunc_div(omega_mradps * TRACK_WIDTH_MM, 2000)
    return v_mmps - turn, v_mmps + turn


def drive_problem(d: Drive) -> str | None:
    """Why ``d`` must be refused (OUT_OF_RANGE), or None."""
    if not 1 <= d.ttl_ms <= DRIVE_TTL_MAX_MS:
        return f"ttl_ms={d.ttl_ms} outside 1..{DRIVE_TTL_MAX_MS}"
    left, right = wheel_speeds_mmps(d.v_mmps, d.omega_mradps)
    if max(abs(left), abs(right)) > MAX_WHEEL_SPEED_MMPS:
        return (f"wheel speeds {left}/{right} mm/s exceed ±{MAX_WHEEL_SPEED_MMPS} mm/s "
                f"(v_mmps={d.v_mmps}, omega_mradps={d.omega_mradps})")
    return None


def water_problem(w: Water) -> str | None:
    if not 0 <= w.zone < N_ZONES:
        return f"zone {w.zone} outside 0..{N_ZONES - 1}"
    if not 1 <= w.duration_ms <= PUMP_MAX_ON_MS:
        return f"duration_ms={w.duration_ms} outside 1..{PUMP_MAX_ON_MS}"
    return None


def heartbeat_problem(h: Heartbeat) -> str | None:
    if h.estop_action not in tuple(EstopAction):
        return f"estop_action={h.estop_action} is not one of {[int(a) for a in EstopAction]}"
    return None


def range_check(message: object) -> NakCode | None:
    """OUT_OF_RANGE if a command breaks a limit, else None (messages without limits pass)."""
    problem = None
    if isinstance(message, Drive):
        problem = drive_problem(message)
    elif isinstance(message, Water):
        problem = water_problem(message)
    elif isinstance(message, Heartbeat):
        problem = heartbeat_problem(message)
    return NakCode.OUT_OF_RANGE if problem else None


def pump_budget_after(budget: int, dt_ms: int, on_ms: int) -> int:
    """The pump budget (1/DIVISOR ms units) after ``dt_ms``, ``on_ms`` of which the pump ran.

    Running costs DIVISOR units per ms, standing still earns 1 unit per ms, capped at full.
    """
    budget = max(0, budget - on_ms * PUMP_REFILL_DIVISOR) + (dt_ms - on_ms)
    return min(budget, PUMP_BUDGET_FULL)
