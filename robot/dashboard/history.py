"""Plots over time for the learning page: accuracy, drift, stops and false stops.

Sampled from the latest snapshot once a second on the web server's thread and summed into
bins of ``bin_s`` (a minute by default); at most ``max_bins`` are kept (a day), so a robot
that runs for weeks and a tab left open for a day cost the same memory.

A *false stop* is a sample where the robot stopped (a policy stop, not the owner's) while the
same policy on the true cells would have driven — known only where frames carry a label map
(the simulation); elsewhere only the stop share is plotted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot.dashboard.snapshot import Snapshot, novel_share

OracleStops = Callable[[np.ndarray, tuple[str, ...]], bool]  # true cells → would the policy stop


@dataclass
class Bin:
    start_s: float
    samples: int = 0
    accuracy_sum: float = 0.0
    accuracy_n: int = 0
    novel_sum: float = 0.0
    novel_n: int = 0
    stops: int = 0
    judged: int = 0  # samples with a label map
    false_stops: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "t": self.start_s,
            "accuracy": self.accuracy_sum / self.accuracy_n if self.accuracy_n else None,
            "novelty": self.novel_sum / self.novel_n if self.novel_n else None,
            "stop_share": self.stops / self.samples if self.samples else None,
            "false_stop_share": self.false_stops / self.judged if self.judged else None,
        }


def is_policy_stop(reason: str) -> bool:
    base = reason.split("+")[0]
    return base.startswith("stop_") and base not in ("stop_owner", "stop_no_frame")


class History:
    def __init__(self, bin_s: float = 60.0, max_bins: int = 24 * 60,
                 oracle_stops: OracleStops | None = None) -> None:
        self.bin_s = bin_s
        self.bins: deque[Bin] = deque(maxlen=max_bins)
        self.oracle_stops = oracle_stops
        self._last_tick = -1
        self._last_judged = -1

    def sample(self, snap: Snapshot | None, now_s: float) -> None:
        if snap is None or snap.tick == self._last_tick:
            return  # nothing new (the loop has not ticked since)
        self._last_tick = snap.tick
        start = now_s - now_s % self.bin_s
        if not self.bins or self.bins[-1].start_s != start:
            self.bins.append(Bin(start))
        b = self.bins[-1]
        b.samples += 1
        if snap.accuracy is not None:
            b.accuracy_sum += snap.accuracy
            b.accuracy_n += 1
        if snap.cells is not None:
            b.novel_sum += novel_share(snap.cells)
            b.novel_n += 1
        b.stops += is_policy_stop(snap.drive_reason)
        j = snap.judged
        if j is not None and j[0] != self._last_judged and self.oracle_stops is not None \
                and snap.class_names:
            self._last_judged = j[0]
            b.judged += 1
            b.false_stops += is_policy_stop(j[2]) and not self.oracle_stops(j[1],
                                                                             snap.class_names)

    def as_json(self) -> list[dict[str, Any]]:
        return [b.as_json() for b in list(self.bins)]
