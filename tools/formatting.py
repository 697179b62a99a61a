"""Numbers in reports: the form the benchmarks and the autonomy timeline share."""

from __future__ import annotations


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def num(x: float | None, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)
